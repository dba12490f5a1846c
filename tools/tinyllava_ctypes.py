#!/usr/bin/env python3
"""tinyllava_ctypes — the C API of tinyllava.cpp (model/capi/tinyllava.h) from Python, with ctypes only
(no compiled extension). Mirrors the header one to one; errors raise TinyLlavaError with the
library's one-line message.

    from tinyllava_ctypes import Engine
    engine = Engine("path/to/checkpoint", lib="build/libtinyllava.so")
    chat = engine.session()
    chat.add_image_file("cats.jpg")
    print(chat.ask("What are these?", max_new_tokens=64, on_text=lambda t: print(t, end="")))
    print(chat.ask("And the colours?"))
"""
import ctypes
import os

TL_OK = 0


class TinyLlavaError(RuntimeError):
    pass


class _EngineOptions(ctypes.Structure):
    _fields_ = [("device", ctypes.c_int), ("precision", ctypes.c_int), ("threads", ctypes.c_int),
                ("isa", ctypes.c_char_p), ("context", ctypes.c_int64), ("reference_kernels", ctypes.c_int)]


class _GenerateOptions(ctypes.Structure):
    _fields_ = [("max_new_tokens", ctypes.c_int), ("temperature", ctypes.c_float), ("top_k", ctypes.c_int),
                ("top_p", ctypes.c_float), ("seed", ctypes.c_uint64), ("repeat_penalty", ctypes.c_float),
                ("num_beams", ctypes.c_int)]


class Timings(ctypes.Structure):
    _fields_ = [("image_ms", ctypes.c_double), ("prefill_ms", ctypes.c_double), ("decode_ms", ctypes.c_double),
                ("prefill_positions", ctypes.c_int64), ("tokens", ctypes.c_int64), ("context_used", ctypes.c_int64),
                ("context_length", ctypes.c_int64), ("images_encoded", ctypes.c_int64), ("finish", ctypes.c_int)]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int32, ctypes.c_char_p, ctypes.c_void_p)


def _load(path):
    lib = ctypes.CDLL(path)
    p = ctypes.c_void_p
    sigs = {
        "tl_version": ([], ctypes.c_char_p), "tl_last_error": ([], ctypes.c_char_p),
        "tl_engine_options_init": ([ctypes.POINTER(_EngineOptions)], None),
        "tl_engine_load": ([ctypes.c_char_p, ctypes.POINTER(_EngineOptions), ctypes.POINTER(p)], ctypes.c_int),
        "tl_engine_free": ([p], None),
        "tl_session_new": ([p, ctypes.c_char_p, ctypes.POINTER(p)], ctypes.c_int),
        "tl_session_fork": ([p, ctypes.POINTER(p)], ctypes.c_int),
        "tl_session_free": ([p], None), "tl_session_clear": ([p], ctypes.c_int), "tl_session_undo": ([p], ctypes.c_int),
        "tl_session_add_image_file": ([p, ctypes.c_char_p], ctypes.c_int),
        "tl_session_add_image_rgb": ([p, ctypes.c_char_p, ctypes.c_int, ctypes.c_int], ctypes.c_int),
        "tl_session_add_image_embeddings": ([p, ctypes.POINTER(ctypes.c_float), ctypes.c_int64, ctypes.c_int64],
                                            ctypes.c_int),
        "tl_generate_options_init": ([ctypes.POINTER(_GenerateOptions)], None),
        "tl_session_ask": ([p, ctypes.c_char_p, ctypes.POINTER(_GenerateOptions), _CALLBACK, p, ctypes.POINTER(p)],
                           ctypes.c_int),
        "tl_session_stop": ([p], None),
        "tl_session_timings": ([p, ctypes.POINTER(Timings)], ctypes.c_int),
        "tl_free_string": ([p], None),
    }
    for name, (args, res) in sigs.items():
        f = getattr(lib, name)
        f.argtypes, f.restype = args, res
    return lib


class Engine:
    """A loaded checkpoint. device: "cpu" or "cuda"; precision: "auto", "f32" or "bf16"."""

    def __init__(self, checkpoint, lib=None, device="cpu", precision="auto", threads=0, isa=None, context=0):
        self._lib = _load(lib or os.environ.get("TINYLLAVA_LIB", "libtinyllava.so"))
        o = _EngineOptions()
        self._lib.tl_engine_options_init(ctypes.byref(o))
        o.device = {"cpu": 0, "cuda": 1}[device]
        o.precision = {"auto": 0, "f32": 1, "bf16": 2}[precision]
        o.threads, o.context = threads, context
        o.isa = isa.encode() if isa else None
        self._handle = ctypes.c_void_p()
        self._check(self._lib.tl_engine_load(checkpoint.encode(), ctypes.byref(o), ctypes.byref(self._handle)))

    def _check(self, status):
        if status != TL_OK:
            raise TinyLlavaError(self._lib.tl_last_error().decode())

    def version(self):
        return self._lib.tl_version().decode()

    def session(self, system=None):
        return Session(self, system)

    def close(self):
        if self._handle:
            self._lib.tl_engine_free(self._handle)
            self._handle = ctypes.c_void_p()

    def __del__(self):
        self.close()


class Session:
    def __init__(self, engine, system=None, _handle=None):
        self._engine, self._lib = engine, engine._lib
        self._handle = _handle or ctypes.c_void_p()
        if not _handle:
            engine._check(self._lib.tl_session_new(engine._handle, system.encode() if system is not None else None,
                                                   ctypes.byref(self._handle)))

    def fork(self):
        h = ctypes.c_void_p()
        self._engine._check(self._lib.tl_session_fork(self._handle, ctypes.byref(h)))
        return Session(self._engine, _handle=h)

    def clear(self):
        self._engine._check(self._lib.tl_session_clear(self._handle))

    def undo(self):
        self._engine._check(self._lib.tl_session_undo(self._handle))

    def add_image_file(self, path):
        self._engine._check(self._lib.tl_session_add_image_file(self._handle, os.fsencode(path)))

    def add_image_rgb(self, rgb, width, height):
        """rgb: bytes of height x width x 3 8-bit values, row-major."""
        rgb = bytes(rgb)
        if len(rgb) != width * height * 3:
            raise TinyLlavaError("image: %d bytes for %d x %d RGB (expected %d)" % (len(rgb), width, height, width * height * 3))
        self._engine._check(self._lib.tl_session_add_image_rgb(self._handle, rgb, width, height))

    def add_image_embeddings(self, rows, n_rows, width):
        """rows: a sequence of n_rows * width floats (e.g. numpy float32 .ravel())."""
        buf = (ctypes.c_float * (n_rows * width))(*rows)
        self._engine._check(self._lib.tl_session_add_image_embeddings(self._handle, buf, n_rows, width))

    def ask(self, question, max_new_tokens=512, temperature=0.0, top_k=0, top_p=1.0, seed=0, repeat_penalty=1.0,
            num_beams=1, on_text=None, on_token=None):
        """The answer (stripped). on_text(str) streams it; on_token(id) returning False stops it."""
        o = _GenerateOptions()
        self._lib.tl_generate_options_init(ctypes.byref(o))
        o.max_new_tokens, o.temperature, o.top_k, o.top_p = max_new_tokens, temperature, top_k, top_p
        o.seed, o.repeat_penalty, o.num_beams = seed, repeat_penalty, num_beams

        def callback(token, text, _user):
            if on_text and text:
                on_text(text.decode("utf-8", "replace"))
            return 0 if (on_token and token >= 0 and on_token(token) is False) else 1

        cb = _CALLBACK(callback)
        out = ctypes.c_void_p()
        self._engine._check(self._lib.tl_session_ask(self._handle, question.encode(), ctypes.byref(o), cb, None,
                                                     ctypes.byref(out)))
        answer = ctypes.string_at(out.value).decode("utf-8", "replace") if out.value else ""
        self._lib.tl_free_string(out)
        return answer

    def stop(self):
        self._lib.tl_session_stop(self._handle)

    def timings(self):
        t = Timings()
        self._engine._check(self._lib.tl_session_timings(self._handle, ctypes.byref(t)))
        return t

    def close(self):
        if self._handle:
            self._lib.tl_session_free(self._handle)
            self._handle = ctypes.c_void_p()

    def __del__(self):
        self.close()
