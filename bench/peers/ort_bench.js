// Times ONNX Runtime (onnxruntime-node, CPU execution provider) on one model, the way
// `mnv2 bench --json --samples` times mnv2, and optionally checks its outputs.
// Usage: node ort_bench.js MODEL.onnx INPUT.bin N H W C THREADS WARMUP ITERATIONS [PROBS_OUT.bin]
//   INPUT.bin: N*H*W*C little-endian float32 in NHWC (what `mnv2 bench --dump` writes); it is
//   transposed to the NCHW input that `mnv2 convert -o x.onnx` files declare.
// Prints one JSON object: load and first-inference times and every timed latency.
// onnxruntime-node is found through NODE_PATH.
const ort = require('onnxruntime-node');
const fs = require('fs');

function nowMs() {
  return Number(process.hrtime.bigint()) / 1e6;
}

async function main() {
  const [model, inputPath, n, h, w, c, threads, warmup, iterations, probsOut] =
      process.argv.slice(2);
  if (!iterations) {
    throw new Error('usage: ort_bench.js MODEL INPUT.bin N H W C THREADS WARMUP ITERATIONS [PROBS.bin]');
  }
  const [N, H, W, C] = [n, h, w, c].map(Number);
  const bytes = fs.readFileSync(inputPath);
  if (bytes.length !== N * H * W * C * 4) {
    throw new Error(`${inputPath}: ${bytes.length} bytes, expected ${N * H * W * C * 4}`);
  }
  const nhwc = new Float32Array(bytes.buffer, bytes.byteOffset, N * H * W * C);
  const nchw = new Float32Array(N * C * H * W);
  for (let b = 0; b < N; ++b)
    for (let y = 0; y < H; ++y)
      for (let x = 0; x < W; ++x)
        for (let ch = 0; ch < C; ++ch)
          nchw[((b * C + ch) * H + y) * W + x] = nhwc[((b * H + y) * W + x) * C + ch];

  let t0 = nowMs();
  const session = await ort.InferenceSession.create(model, {
    intraOpNumThreads: Number(threads),
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  const loadMs = nowMs() - t0;
  const feeds = {[session.inputNames[0]]: new ort.Tensor('float32', nchw, [N, C, H, W])};
  t0 = nowMs();
  const first = await session.run(feeds);
  const firstMs = nowMs() - t0;
  if (probsOut) {
    const y = first[session.outputNames[0]].data;
    fs.writeFileSync(probsOut, Buffer.from(new Float32Array(y).buffer));
  }
  for (let i = 0; i < Number(warmup); ++i) await session.run(feeds);
  const samples = [];
  for (let i = 0; i < Number(iterations); ++i) {
    const ti = nowMs();
    await session.run(feeds);
    samples.push(nowMs() - ti);
  }
  console.log(JSON.stringify({
    engine: 'onnxruntime-node',
    version: require('onnxruntime-node/package.json').version,
    threads: Number(threads),
    batch: N,
    load_ms: loadMs,
    first_inference_ms: firstMs,
    samples_ms: samples,
  }));
}

main().catch((e) => {
  console.error(String(e && e.message ? e.message : e));
  process.exit(1);
});
