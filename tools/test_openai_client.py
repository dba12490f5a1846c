#!/usr/bin/env python3
"""End-to-end check of `tinyllava serve` with the official `openai` Python client.

Usage: python3 tools/test_openai_client.py TINYLLAVA_BIN MODEL_DIR IMAGE_PNG

Starts the server on a free port with an API key, runs a few requests through the client
(models, chat with an image, streamed and not, completions, a wrong key, bad requests), then
stops the server with SIGTERM and checks that it exits with 0.
Exit codes: 0 passed, 1 failed, 77 skipped (the openai package is not installed).
"""
import base64
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request

try:
    import openai
except ImportError:
    print("SKIP: the openai package is not installed (pip install openai)")
    sys.exit(77)

API_KEY = "test-key"


class CheckFailed(Exception):
    pass


def check(cond, what):
    if not cond:
        raise CheckFailed(what)


def start_server(binary, model_dir):
    """Starts the server on port 0; returns (process, port, its stderr lines, the thread that reads them)."""
    proc = subprocess.Popen([binary, "serve", "-m", model_dir, "--port", "0", "--api-key", API_KEY],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines = []
    found = threading.Event()
    port = []

    def read_stderr():  # keeps draining stderr so the server never blocks on a full pipe
        for line in proc.stderr:
            lines.append(line.rstrip("\n"))
            m = re.search(r"listening on http://[^:/\s]+:(\d+)", line)
            if m and not port:
                port.append(int(m.group(1)))
                found.set()
        found.set()  # stderr closed: the server exited

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    found.wait(30)
    return proc, (port[0] if port else None), lines, reader


def wait_healthy(proc, port, deadline_s=30):
    end = time.monotonic() + deadline_s
    while time.monotonic() < end and proc.poll() is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as r:
                if r.status == 200:
                    return True
        except OSError:  # URLError and HTTPError (503 while loading) are OSErrors
            pass
        time.sleep(0.1)
    return False


def stop_server(proc):
    """SIGTERM, then wait; kill if it does not exit. Returns the exit code after SIGTERM (None if killed)."""
    if proc.poll() is not None:
        return proc.returncode
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return None


def run_checks(port, image_png):
    base_url = f"http://127.0.0.1:{port}/v1"
    client = openai.OpenAI(base_url=base_url, api_key=API_KEY, max_retries=0, timeout=120)

    models = client.models.list().data
    check(len(models) == 1, f"models.list(): expected one model, got {len(models)}")
    model = models[0].id
    print(f"ok   models.list(): one model, {model!r}")

    with open(image_png, "rb") as f:
        data_uri = "data:image/png;base64," + base64.b64encode(f.read()).decode("ascii")
    messages = [{"role": "user", "content": [
        {"type": "text", "text": "What is in the image?"},
        {"type": "image_url", "image_url": {"url": data_uri}},
    ]}]

    r = client.chat.completions.create(model=model, messages=messages, temperature=0, max_tokens=8)
    check(len(r.choices) == 1, f"chat: expected one choice, got {len(r.choices)}")
    choice = r.choices[0]
    check(choice.message.role == "assistant", f"chat: message.role is {choice.message.role!r}")
    check(choice.finish_reason in ("stop", "length"), f"chat: finish_reason is {choice.finish_reason!r}")
    check(isinstance(choice.message.content, str), f"chat: message.content is {choice.message.content!r}")
    check(r.usage is not None and r.usage.prompt_tokens > 0, f"chat: usage is {r.usage}")
    check(r.usage.completion_tokens <= 8, f"chat: {r.usage.completion_tokens} completion tokens (max_tokens 8)")
    check(r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens, f"chat: usage is {r.usage}")
    text = choice.message.content
    print(f"ok   chat.completions (image, greedy): {text!r}, finish_reason {choice.finish_reason}, "
          f"usage {r.usage.prompt_tokens}+{r.usage.completion_tokens}")

    stream = client.chat.completions.create(model=model, messages=messages, temperature=0, max_tokens=8,
                                            stream=True, stream_options={"include_usage": True})
    pieces, finish, usage, n_chunks = [], None, None, 0
    for chunk in stream:
        n_chunks += 1
        for c in chunk.choices:
            if c.delta.content:
                pieces.append(c.delta.content)
            if c.finish_reason:
                finish = c.finish_reason
        if chunk.usage is not None:
            check(not chunk.choices, "stream: the usage chunk has choices")
            usage = chunk.usage
    streamed = "".join(pieces)
    check(streamed == text, f"stream: content {streamed!r} differs from the non-streamed {text!r}")
    check(finish == choice.finish_reason, f"stream: finish_reason {finish!r}, non-streamed {choice.finish_reason!r}")
    check(usage is not None, "stream: no usage chunk (stream_options.include_usage)")
    check(usage.prompt_tokens == r.usage.prompt_tokens and usage.completion_tokens == r.usage.completion_tokens
          and usage.total_tokens == r.usage.total_tokens, f"stream: usage {usage}, non-streamed {r.usage}")
    print(f"ok   chat.completions stream: {n_chunks} chunks, same content, finish_reason and usage")

    c = client.completions.create(model=model, prompt="The capital of France is", max_tokens=5, temperature=0)
    check(len(c.choices) == 1 and isinstance(c.choices[0].text, str), f"completions: choices {c.choices}")
    check(c.choices[0].finish_reason in ("stop", "length"), f"completions: finish_reason {c.choices[0].finish_reason!r}")
    check(c.usage is not None and c.usage.prompt_tokens > 0 and c.usage.completion_tokens <= 5,
          f"completions: usage {c.usage}")
    print(f"ok   completions: {c.choices[0].text!r}, usage {c.usage.prompt_tokens}+{c.usage.completion_tokens}")

    wrong = openai.OpenAI(base_url=base_url, api_key="wrong-key", max_retries=0, timeout=30)
    try:
        wrong.models.list()
        raise CheckFailed("wrong API key: no error raised")
    except openai.AuthenticationError as e:
        check(e.status_code == 401, f"wrong API key: status {e.status_code}")
    print("ok   wrong API key: openai.AuthenticationError (401)")

    bad_requests = {  # the client does not check types, so these reach the server as written
        "content 5": dict(messages=[{"role": "user", "content": 5}]),
        "temperature 5": dict(messages=[{"role": "user", "content": "hi"}], temperature=5),
    }
    for name, kwargs in bad_requests.items():
        try:
            client.chat.completions.create(model=model, max_tokens=4, **kwargs)
            raise CheckFailed(f"bad request ({name}): no error raised")
        except openai.BadRequestError as e:
            check(e.status_code == 400, f"bad request ({name}): status {e.status_code}")
            print(f"ok   bad request ({name}): openai.BadRequestError: {e.message}")


def main():
    if len(sys.argv) != 4:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    binary, model_dir, image_png = sys.argv[1:]
    try:
        proc, port, log, reader = start_server(binary, model_dir)
    except OSError as e:
        print(f"FAIL: cannot start {binary}: {e}")
        return 1
    failure = None
    try:
        check(port is not None, "the server printed no 'listening on' line")
        check(wait_healthy(proc, port), "GET /health did not answer 200 within 30 s (or the server exited)")
        print(f"ok   server up on port {port}, /health 200")
        run_checks(port, image_png)
    except CheckFailed as e:
        failure = str(e)
    except openai.APIError as e:
        failure = f"unexpected {type(e).__name__}: {e}"
    finally:
        code = stop_server(proc)
        reader.join(5)  # the whole log, for a failure message
    if failure is None:
        if code == 0:
            print("ok   server exited with 0 after SIGTERM")
        else:
            failure = f"the server exited with {code} after SIGTERM" if code is not None else \
                "the server did not exit within 30 s of SIGTERM (killed)"
    if failure is not None:
        print(f"FAIL: {failure}")
        print("server stderr (last lines):\n  " + "\n  ".join(log[-20:]))
        return 1
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
