"""voxgate's builtin speech recogniser: PocketSphinx 5 (PyPI `pocketsphinx`, which ships its
US English acoustic model and dictionary) behind an OpenAI-compatible transcription endpoint,
so the builtin voice plugs into the same pipeline as a provider.

Recognition is constrained by the agent's own words: the request's `prompt` field carries the
agent's text (its knowledge, greeting and test inputs), and a trigram language model and a
dictionary of just those words are built from it (a few ms) and kept for the next request.
The general English model got synthetic questions wrong; one built from the agent's sentences
gets them right in about 0.1-0.3 s.

    python recognizer.py [--listen 127.0.0.1:0]

(voxgate runs it with `python -c`, its stdin a pipe it never writes: the process exits when that
pipe closes, so it never outlives its server) prints `voxgate recognizer listening on http://HOST:PORT` once ready, then serves

    GET  /health                      200 {"ok": true}
    POST /v1/audio/transcriptions     multipart: file (WAV, 16 kHz mono 16-bit), prompt, model,
                                      language -> {"text": "...", "confidence": 0.0-1.0}

English only. Errors are JSON `{"error": {"code", "message"}}` with status 400 or 500.
"""

import argparse
import email.parser
import email.policy
import hashlib
import io
import json
import os
import re
import sys
import tempfile
import threading
import wave
from collections import OrderedDict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from pocketsphinx import Decoder, get_model_path, lm

RATE = 16000
MAX_BODY = 16 * 1024 * 1024
MAX_CORPUS = 512 * 1024
# Language models kept, most recently used first (one per agent text).
KEPT_MODELS = 32
MODEL_DIR = os.path.join(get_model_path(), "en-us")


def load_dictionary():
    """CMUdict, as PocketSphinx ships it: word -> its pronunciation lines (variants `word(2)`)."""
    words = {}
    with open(os.path.join(MODEL_DIR, "cmudict-en-us.dict"), encoding="utf-8") as f:
        for line in f:
            entry, _, phones = line.strip().partition(" ")
            if not phones:
                continue
            word = entry.split("(", 1)[0]
            words.setdefault(word, []).append(f"{entry} {phones}")
    return words


WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")
SENTENCE_END = re.compile(r"[.!?;:\n]+")


def sentences(text, dictionary):
    """The corpus as lower-case sentences of words the dictionary can pronounce."""
    out = []
    for part in SENTENCE_END.split(text.lower()):
        words = [w for w in WORD.findall(part) if w in dictionary]
        if words:
            out.append(" ".join(words))
    return out


class Model:
    """A decoder for one corpus; PocketSphinx decoders are not thread-safe, hence the lock."""

    def __init__(self, corpus, dictionary):
        lines = sentences(corpus, dictionary)
        if not lines:
            raise ValueError("the prompt has no English words to listen for")
        self.dir = tempfile.TemporaryDirectory(prefix="voxgate-recognizer-")
        arpa = lm.ArpaBoLM(text="\n".join(lines), add_start=True)
        arpa.compute()
        lm_path = os.path.join(self.dir.name, "corpus.lm")
        with open(lm_path, "w", encoding="utf-8") as f:
            arpa.write(f)
        dict_path = os.path.join(self.dir.name, "corpus.dict")
        vocabulary = sorted({w for line in lines for w in line.split()})
        with open(dict_path, "w", encoding="utf-8") as f:
            for word in vocabulary:
                for entry in dictionary[word]:
                    f.write(entry + "\n")
        self.decoder = Decoder(lm=lm_path, dict=dict_path, samprate=RATE, loglevel="FATAL")
        self.lock = threading.Lock()

    def recognise(self, pcm):
        with self.lock:
            self.decoder.start_utt()
            self.decoder.process_raw(pcm, full_utt=True)
            self.decoder.end_utt()
            hyp = self.decoder.hyp()
        if hyp is None:
            return "", 0.0
        return hyp.hypstr, max(0.0, min(1.0, float(hyp.prob)))


class Recognizer:
    def __init__(self):
        self.dictionary = load_dictionary()
        self.models = OrderedDict()
        self.lock = threading.Lock()

    def model(self, corpus):
        key = hashlib.sha256(corpus.encode("utf-8")).hexdigest()
        with self.lock:
            if key in self.models:
                self.models.move_to_end(key)
                return self.models[key]
        built = Model(corpus, self.dictionary)
        with self.lock:
            self.models[key] = built
            self.models.move_to_end(key)
            while len(self.models) > KEPT_MODELS:
                self.models.popitem(last=False)
        return built


class BadRequest(Exception):
    pass


def form_fields(content_type, body):
    """multipart/form-data -> {name: bytes}."""
    if not content_type.startswith("multipart/form-data"):
        raise BadRequest(f"expected multipart/form-data, not {content_type or 'no content type'}")
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    if not message.is_multipart():
        raise BadRequest("the multipart body has no parts")
    fields = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if name:
            fields[name] = part.get_payload(decode=True) or b""
    return fields


def wav_pcm(data):
    try:
        with wave.open(io.BytesIO(data)) as w:
            if w.getnchannels() != 1 or w.getsampwidth() != 2 or w.getframerate() != RATE:
                raise BadRequest(
                    f"file: a WAV of {w.getnchannels()} channels, {8 * w.getsampwidth()} bits at "
                    f"{w.getframerate()} Hz; the recogniser takes mono 16-bit at {RATE} Hz"
                )
            return w.readframes(w.getnframes())
    except (wave.Error, EOFError) as e:
        raise BadRequest(f"file: not a WAV ({e})")


class Handler(BaseHTTPRequestHandler):
    recognizer = None
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def reply(self, status, value):
        body = json.dumps(value).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def error(self, status, code, message):
        self.reply(status, {"error": {"code": code, "message": message}})

    def do_GET(self):
        if self.path == "/health":
            return self.reply(200, {"ok": True})
        self.error(404, "not_found", f"no {self.path} here")

    def do_POST(self):
        try:
            length = int(self.headers.get("Content-Length") or "0")
        except ValueError:
            return self.error(400, "invalid_request", "Content-Length is not a number")
        if length <= 0 or length > MAX_BODY:
            return self.error(400, "invalid_request", f"a body of 1 to {MAX_BODY} bytes, not {length}")
        body = self.rfile.read(length)
        if self.path.split("?", 1)[0] != "/v1/audio/transcriptions":
            return self.error(404, "not_found", f"no {self.path} here")
        try:
            fields = form_fields(self.headers.get("Content-Type", ""), body)
            if "file" not in fields:
                raise BadRequest("file: missing (the turn's audio, as WAV)")
            corpus = fields.get("prompt", b"").decode("utf-8", "replace")
            if not corpus.strip():
                raise BadRequest("prompt: missing (the agent's text, which the recogniser listens for)")
            if len(corpus) > MAX_CORPUS:
                raise BadRequest(f"prompt: over {MAX_CORPUS} characters")
            pcm = wav_pcm(fields["file"])
            try:
                model = self.recognizer.model(corpus)
            except ValueError as e:
                raise BadRequest(f"prompt: {e}")
            text, confidence = model.recognise(pcm)
        except BadRequest as e:
            return self.error(400, "invalid_request", str(e))
        except Exception as e:  # the recogniser itself failed: say so, keep serving
            return self.error(500, "recognizer_failed", f"{type(e).__name__}: {e}")
        self.reply(200, {"text": text, "confidence": confidence})


def exit_with_parent():
    """voxgate holds this process's stdin open and never writes to it: when voxgate exits, even
    killed, the pipe closes, and so does this process, so no recogniser outlives its server."""
    try:
        while sys.stdin.buffer.read(4096):
            pass
    finally:
        os._exit(0)


def main():
    parser = argparse.ArgumentParser(description="voxgate's builtin speech recogniser")
    parser.add_argument("--listen", default="127.0.0.1:0", help="HOST:PORT (port 0: any free port)")
    args = parser.parse_args()
    host, _, port = args.listen.rpartition(":")
    threading.Thread(target=exit_with_parent, daemon=True).start()
    Handler.recognizer = Recognizer()
    server = ThreadingHTTPServer((host or "127.0.0.1", int(port)), Handler)
    server.daemon_threads = True
    bound_host, bound_port = server.server_address[:2]
    print(f"voxgate recognizer listening on http://{bound_host}:{bound_port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
