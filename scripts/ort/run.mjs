// run.mjs runs an ONNX model with ONNX Runtime (onnxruntime-node, installed
// by scripts/setup.sh into tools/ort/node_modules) on one batch and writes the
// output as safetensors: the checker of nextconv's ONNX exports.
//
//   node scripts/ort/run.mjs --model m.onnx --input x.safetensors --output logits.safetensors
//        [--shape N,C,H,W]      input is raw little-endian float32 instead (then --input x.raw)
//        [--batch B]            feed the input B samples at a time (default: all at once)
//        [--threads T]          intra-op threads (default 2)
//        [--spin 0|1]           let idle pool threads spin-wait (default 0: on a shared, loaded
//                               machine spinning threads starve each other; 1 is ORT's default)
//        [--opt all|extended|basic|disabled]   graph optimization level (default all)
//        [--optimized PATH]     save the optimized graph ONNX Runtime runs (optimizedModelFilePath)
//        [--bench RUNS]         time RUNS runs of the whole input after one warm-up; print the median
//
// The safetensors input holds a float32 tensor named "x" (or a single
// tensor); the output holds "logits" (the model's first output). A JSON line
// on stdout summarises the run: output shape, and with --bench the median and
// every run's milliseconds.
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';

const here = path.dirname(new URL(import.meta.url).pathname);
const ortDir = process.env.NEXTCONV_ORT_DIR || path.join(here, '..', '..', 'tools', 'ort');
const ort = createRequire(path.join(ortDir, 'package.json'))('onnxruntime-node');

function parseArgs(argv) {
  const a = { threads: 2, opt: 'all' };
  for (let i = 0; i < argv.length; i += 2) {
    const k = argv[i].replace(/^--?/, '');
    if (i + 1 >= argv.length) throw new Error(`flag --${k} needs a value`);
    a[k] = argv[i + 1];
  }
  for (const k of ['model', 'input']) if (!a[k]) throw new Error(`--${k} is required`);
  return a;
}

// readSafetensors returns {shape, data: Float32Array} of tensor "x" (or the
// only tensor) in a safetensors file.
function readSafetensors(file) {
  const buf = fs.readFileSync(file);
  if (buf.length < 8) throw new Error(`${file}: too short for safetensors`);
  const n = Number(buf.readBigUInt64LE(0));
  if (n > buf.length - 8) throw new Error(`${file}: header length ${n} exceeds the file`);
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8'));
  const names = Object.keys(header).filter((k) => k !== '__metadata__');
  const name = names.includes('x') ? 'x' : names.length === 1 ? names[0] : null;
  if (name === null) throw new Error(`${file}: no tensor "x" among ${names.join(', ')}`);
  const t = header[name];
  if (t.dtype !== 'F32') throw new Error(`${file}: tensor ${name} is ${t.dtype}, want F32`);
  const [lo, hi] = t.data_offsets;
  const count = t.shape.reduce((p, d) => p * d, 1);
  if (hi - lo !== 4 * count || 8 + n + hi > buf.length) throw new Error(`${file}: tensor ${name} has bad offsets`);
  const bytes = buf.subarray(8 + n + lo, 8 + n + hi);
  const data = new Float32Array(count);
  new Uint8Array(data.buffer).set(bytes);
  return { shape: t.shape, data };
}

function readRaw(file, shape) {
  const buf = fs.readFileSync(file);
  const count = shape.reduce((p, d) => p * d, 1);
  if (buf.length !== 4 * count) throw new Error(`${file}: ${buf.length} bytes, want ${4 * count} for shape ${shape}`);
  const data = new Float32Array(count);
  new Uint8Array(data.buffer).set(buf);
  return { shape, data };
}

function writeSafetensors(file, name, shape, data) {
  let header = JSON.stringify({ [name]: { dtype: 'F32', shape, data_offsets: [0, 4 * data.length] } });
  header += ' '.repeat((8 - (header.length % 8)) % 8);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(header.length));
  const tmp = `${file}.tmp${process.pid}`;
  fs.writeFileSync(tmp, Buffer.concat([len, Buffer.from(header), Buffer.from(data.buffer, data.byteOffset, data.byteLength)]));
  fs.renameSync(tmp, file);
}

async function main() {
  const a = parseArgs(process.argv.slice(2));
  const x = a.shape ? readRaw(a.input, a.shape.split(',').map(Number)) : readSafetensors(a.input);
  const opts = {
    graphOptimizationLevel: a.opt,
    intraOpNumThreads: Number(a.threads),
    interOpNumThreads: 1,
    executionMode: 'sequential',
    extra: { session: { intra_op: { allow_spinning: a.spin ?? '0' }, inter_op: { allow_spinning: a.spin ?? '0' } } },
  };
  if (a.optimized) opts.optimizedModelFilePath = a.optimized;
  const session = await ort.InferenceSession.create(a.model, opts);
  const inName = session.inputNames[0];
  const outName = session.outputNames[0];
  const n = x.shape[0];
  const per = x.data.length / n;
  const batch = a.batch ? Number(a.batch) : n;

  async function runAll() {
    const parts = [];
    let outShape = null;
    for (let i = 0; i < n; i += batch) {
      const b = Math.min(batch, n - i);
      const t = new ort.Tensor('float32', x.data.subarray(i * per, (i + b) * per), [b, ...x.shape.slice(1)]);
      const r = await session.run({ [inName]: t });
      parts.push(r[outName].data);
      outShape = r[outName].dims;
    }
    const total = parts.reduce((s, p) => s + p.length, 0);
    const out = new Float32Array(total);
    let o = 0;
    for (const p of parts) { out.set(p, o); o += p.length; }
    return { data: out, shape: [n, ...outShape.slice(1)] };
  }

  const y = await runAll();
  const summary = { output: outName, shape: y.shape };
  if (a.bench) {
    const ms = [];
    for (let i = 0; i < Number(a.bench); i++) {
      const t0 = process.hrtime.bigint();
      await runAll();
      ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    const s = [...ms].sort((p, q) => p - q);
    summary.median_ms = s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    summary.runs_ms = ms;
  }
  if (a.output) writeSafetensors(a.output, 'logits', y.shape, y.data);
  console.log(JSON.stringify(summary));
}

main().catch((e) => {
  console.error(`run.mjs: ${e.message}`);
  process.exit(1);
});
