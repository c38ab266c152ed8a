"""voxgate's builtin speech recogniser: PocketSphinx 5 (PyPI `pocketsphinx`, which ships its
US English acoustic model and dictionary) behind an OpenAI-compatible transcription endpoint,
so the builtin voice plugs into the same pipeline as a provider.

Recognition is constrained by the agent's own words: the request's `prompt` field carries the
agent's text (its knowledge, greeting and test inputs), and a trigram language model and a
dictionary of just those words are built from it (a few ms) and kept for the next request.
The general English model got synthetic questions wrong; one built from the agent's sentences
gets them right in about 0.1-0.3 s.

Words of the agent's that CMUdict lacks (its product's name, "voxgate", "WebRTC", place names)
get a pronunciation from espeak-ng's phonemes, mapped to CMUdict's phone set: without one such
a word cannot be heard at all, and a question about it is heard as other words.

A model that knows only the agent's words hears every question as the agent's words, so each
turn is decoded twice: once with the agent's words only (`text`), and once with the agent's words
plus the thousand most common English words (`open_text`, the most likely words of the general
model PocketSphinx ships). An off-topic question comes out of the second decode in common words
("what will the weather be like"), and voxgate answers from a passage only when the open decode
also heard one of its words (docs/DECISIONS.md, "The builtin voice").

PocketSphinx holds Python's GIL while it decodes, so decoding runs in a pool of worker processes
(`--workers`, default: one per CPU), each with its own models.

    python recognizer.py [--listen 127.0.0.1:0]

(voxgate runs it with `python -c`, its stdin a pipe it never writes: the process exits when that
pipe closes, so it never outlives its server) prints `voxgate recognizer listening on http://HOST:PORT` once ready, then serves

    GET  /health                      200 {"ok": true}
    POST /v1/audio/transcriptions     multipart: file (WAV, 16 kHz mono 16-bit), prompt, model,
                                      language -> {"text": "...", "open_text": "...",
                                                   "confidence": 0.0-1.0}

English only. Errors are JSON `{"error": {"code", "message"}}` with status 400 or 500.
"""

import argparse
import email.parser
import email.policy
import hashlib
import io
import json
import multiprocessing
import os
import re
import subprocess
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
# The longest a decode may take before the request fails (a turn is at most a minute of audio).
DECODE_TIMEOUT_S = 30
# Common English words the open decode may hear instead of the agent's (see the module doc).
COMMON_WORDS = 1000


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


# espeak-ng's IPA phonemes (en-us) as CMUdict's phones. A token espeak-ng prints (`--sep=' '`)
# is looked up whole, else cut into the longest known pieces; stress marks are dropped.
IPA_PHONES = {
    "ɑː": "AA", "ɑ": "AA", "ɒ": "AA", "æ": "AE", "a": "AE", "ʌ": "AH", "ə": "AH", "ɐ": "AH",
    "ɔː": "AO", "ɔ": "AO", "aʊ": "AW", "aɪ": "AY", "b": "B", "tʃ": "CH", "d": "D", "ð": "DH",
    "ɛ": "EH", "e": "EH", "ɜː": "ER", "ɜ": "ER", "ɚ": "ER", "ɝ": "ER", "eɪ": "EY", "f": "F",
    "ɡ": "G", "g": "G", "h": "HH", "ɪ": "IH", "ᵻ": "IH", "iː": "IY", "i": "IY", "dʒ": "JH",
    "k": "K", "l": "L", "m": "M", "n": "N", "ŋ": "NG", "oʊ": "OW", "o": "OW", "ɔɪ": "OY",
    "p": "P", "ɹ": "R", "r": "R", "s": "S", "ʃ": "SH", "t": "T", "ɾ": "T", "θ": "TH",
    "ʊ": "UH", "uː": "UW", "u": "UW", "v": "V", "w": "W", "j": "Y", "z": "Z", "ʒ": "ZH",
    "x": "K", "ç": "HH", "ɬ": "L", "ʔ": "", "n̩": "AH N", "l̩": "AH L",
}
IPA_DROP = "ˈˌ‍ \u200d"


def arpabet(ipa):
    """CMUdict phones for one word's espeak-ng IPA (`v ˈɑː k s ɡ eɪ t` -> `V AA K S G EY T`), or
    None when a sound has no counterpart."""
    phones = []
    for token in ipa.split():
        token = "".join(ch for ch in token if ch not in IPA_DROP)
        while token:
            for size in range(min(3, len(token)), 0, -1):
                if token[:size] in IPA_PHONES:
                    phones.extend(IPA_PHONES[token[:size]].split())
                    token = token[size:]
                    break
            else:
                if token[0] in "ːˑ̩̃.":  # lengths, nasal and syllabic marks: part of the sound
                    token = token[1:]
                    continue
                return None
    return " ".join(phones) or None


def pronounce(words):
    """word -> CMUdict phones for `words` CMUdict lacks, from one espeak-ng run (en-us voice,
    one word a line). Words espeak-ng cannot say, or a missing espeak-ng, get none."""
    words = sorted(set(words))
    if not words:
        return {}
    try:
        out = subprocess.run(
            ["espeak-ng", "-q", "--ipa", "--sep= ", "-v", "en-us"],
            input="\n".join(words) + "\n", capture_output=True, text=True, timeout=10, check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    lines = [line for line in out.splitlines() if line.strip()]
    if len(lines) != len(words):
        return {}
    return {w: phones for w, line in zip(words, lines) if (phones := arpabet(line))}


def common_words(dictionary, count):
    """The `count` most likely single words of PocketSphinx's general English model that the
    dictionary can pronounce (about 1 s to rank)."""
    from pocketsphinx import Config, LogMath, NGramModel

    general = NGramModel(Config(), LogMath(), os.path.join(MODEL_DIR, "en-us.lm.bin"))
    ranked = sorted(((general.prob([w]), w) for w in dictionary if w.isalpha()), reverse=True)
    return [w for _, w in ranked[:count]]


WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")
SENTENCE_END = re.compile(r"[.!?;:\n]+")


def sentences(text, dictionary):
    """The corpus as lower-case sentences of words the dictionary can pronounce, after adding
    espeak-ng's pronunciation of each word it lacks (see `pronounce`)."""
    parts = [WORD.findall(part) for part in SENTENCE_END.split(text.lower())]
    missing = {w for words in parts for w in words if w not in dictionary}
    for word, phones in pronounce(missing).items():
        dictionary[word] = [f"{word} {phones}"]
    out = []
    for words in parts:
        words = [w for w in words if w in dictionary]
        if words:
            out.append(" ".join(words))
    return out


def decoder(directory, name, lines, dictionary):
    """A decoder whose language model is built from `lines` and whose dictionary has just their
    words."""
    arpa = lm.ArpaBoLM(text="\n".join(lines), add_start=True)
    arpa.compute()
    lm_path = os.path.join(directory, f"{name}.lm")
    with open(lm_path, "w", encoding="utf-8") as f:
        arpa.write(f)
    dict_path = os.path.join(directory, f"{name}.dict")
    with open(dict_path, "w", encoding="utf-8") as f:
        for word in sorted({w for line in lines for w in line.split()}):
            for entry in dictionary[word]:
                f.write(entry + "\n")
    return Decoder(lm=lm_path, dict=dict_path, samprate=RATE, loglevel="FATAL")


def decode(decoder, pcm):
    decoder.start_utt()
    decoder.process_raw(pcm, full_utt=True)
    decoder.end_utt()
    return decoder.hyp()


class Model:
    """The two decoders for one corpus: the agent's words only, and the agent's words among
    common English words (see the module doc)."""

    def __init__(self, corpus, dictionary, common):
        lines = sentences(corpus, dictionary)
        if not lines:
            raise ValueError("the prompt has no English words to listen for")
        with tempfile.TemporaryDirectory(prefix="voxgate-recognizer-") as directory:
            self.closed = decoder(directory, "agent", lines, dictionary)
            self.open = decoder(directory, "open", lines + common, dictionary)

    def hear(self, vocabulary, pcm):
        """The words and their probability, with the agent's words only (`closed`) or among
        common ones (`open`)."""
        hyp = decode(self.closed if vocabulary == "closed" else self.open, pcm)
        if hyp is None:
            return "", 0.0
        return hyp.hypstr, max(0.0, min(1.0, float(hyp.prob)))


class Recognizer:
    """One worker process's models, most recently used kept (one per agent text)."""

    def __init__(self):
        self.dictionary = load_dictionary()
        self.common = common_words(self.dictionary, COMMON_WORDS)
        self.models = OrderedDict()

    def hear(self, corpus, vocabulary, pcm):
        key = hashlib.sha256(corpus.encode("utf-8")).hexdigest()
        model = self.models.get(key)
        if model is None:
            model = Model(corpus, self.dictionary, self.common)
            self.models[key] = model
        self.models.move_to_end(key)
        while len(self.models) > KEPT_MODELS:
            self.models.popitem(last=False)
        return model.hear(vocabulary, pcm)


# The recogniser of this worker process (made before the fork, shared copy-on-write).
WORKER = None


def hear_in_worker(corpus, vocabulary, pcm):
    """Runs in a pool worker. A bad corpus is a result, not an exception, so the HTTP side can
    tell the caller's mistake from the recogniser's failure."""
    try:
        return WORKER.hear(corpus, vocabulary, pcm)
    except ValueError as e:
        return {"bad_prompt": str(e)}


def recognise(pool, corpus, pcm):
    """Both decodes of one turn, at once in two workers: the answer waits for the slower one
    instead of both."""
    closed = pool.apply_async(hear_in_worker, (corpus, "closed", pcm))
    opened = pool.apply_async(hear_in_worker, (corpus, "open", pcm))
    # A worker that dies mid-decode (PocketSphinx is C) loses its task for good: wait a bounded
    # time, so the request fails instead of holding its thread forever.
    closed, opened = closed.get(timeout=DECODE_TIMEOUT_S), opened.get(timeout=DECODE_TIMEOUT_S)
    for result in (closed, opened):
        if isinstance(result, dict):
            return result
    (text, confidence), (open_text, _) = closed, opened
    return {"text": text, "open_text": open_text if text else "", "confidence": confidence}


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
    pool = None
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
            result = recognise(self.pool, corpus, pcm)
            if "bad_prompt" in result:
                raise BadRequest(f"prompt: {result['bad_prompt']}")
        except BadRequest as e:
            return self.error(400, "invalid_request", str(e))
        except Exception as e:  # the recogniser itself failed: say so, keep serving
            return self.error(500, "recognizer_failed", f"{type(e).__name__}: {e}")
        self.reply(200, result)


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
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="decoding processes")
    parser.add_argument("--pronounce", nargs="+", metavar="WORD",
                        help="print each word's pronunciation as the recogniser will use it, and exit")
    args = parser.parse_args()
    if args.pronounce:
        dictionary = load_dictionary()
        words = [w.lower() for w in args.pronounce]
        made = pronounce(w for w in words if w not in dictionary)
        for word in words:
            if word in dictionary:
                print(f"{word}\t{dictionary[word][0].partition(' ')[2]}\tcmudict")
            else:
                print(f"{word}\t{made.get(word, '-')}\t{'espeak-ng' if word in made else 'none'}")
        return 0
    host, _, port = args.listen.rpartition(":")
    global WORKER
    WORKER = Recognizer()
    # Forked before any thread starts; a worker exits when this process's end of the pool's
    # pipes closes, so the workers go with it.
    Handler.pool = multiprocessing.get_context("fork").Pool(max(1, args.workers))
    threading.Thread(target=exit_with_parent, daemon=True).start()
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
