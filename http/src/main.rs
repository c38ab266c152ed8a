fn main() -> std::process::ExitCode {
    voxgate_http::cli::main()
}
