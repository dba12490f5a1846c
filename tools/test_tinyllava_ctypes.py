#!/usr/bin/env python3
"""Checks tools/tinyllava_ctypes.py against the built library on a committed fixture (run by ctest as
CApi.PythonCtypes when python3 is present):  python3 tools/test_tinyllava_ctypes.py LIB MODEL_DIR IMAGE"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tinyllava_ctypes import Engine, TinyLlavaError  # noqa: E402


def main():
    lib, model, image = sys.argv[1:4]
    engine = Engine(model, lib=lib, precision="f32")
    assert engine.version(), "no version"
    chat = engine.session()
    chat.add_image_file(image)
    streamed = []
    first = chat.ask("What are these?", max_new_tokens=8, on_text=streamed.append)
    t = chat.timings()
    assert t.tokens == 8 and t.images_encoded == 1, (t.tokens, t.images_encoded)
    assert "".join(streamed).strip() == first, (streamed, first)
    fork = chat.fork()
    second = chat.ask("And the colours?", max_new_tokens=8)
    t2 = chat.timings()
    assert 0 < t2.prefill_positions < t.prefill_positions, (t2.prefill_positions, t.prefill_positions)
    assert fork.ask("And the colours?", max_new_tokens=8) == second
    chat.undo()
    assert chat.ask("And the colours?", max_new_tokens=8) == second
    stopped = []
    chat.ask("More?", max_new_tokens=50, on_token=lambda tok: len(stopped) < 3 and stopped.append(tok) is None)
    assert chat.timings().finish == 3 and len(stopped) == 3, (chat.timings().finish, stopped)
    try:
        chat.add_image_file(os.path.join(model, "absent.png"))
        raise AssertionError("a missing image was accepted")
    except TinyLlavaError as e:
        assert "absent.png" in str(e), e
    try:
        Engine(os.path.join(model, "absent"), lib=lib)
        raise AssertionError("a missing checkpoint was accepted")
    except TinyLlavaError as e:
        assert "absent" in str(e), e
    beams = engine.session()
    beams.add_image_file(image)
    beams.ask("What are these?", max_new_tokens=8, num_beams=3)
    assert 0 < beams.timings().tokens <= 8, beams.timings().tokens
    print("ctypes wrapper: ok (%s)" % first[:40])


if __name__ == "__main__":
    main()
