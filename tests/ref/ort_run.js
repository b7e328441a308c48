// Runs ONNX models in ONNX Runtime (onnxruntime-node, CPU) on raw float32 inputs.
// Usage: node ort_run.js MODEL.onnx INPUT.bin D0,D1,D2,D3 OUTPUT.bin [OPTIMIZED.onnx]
//          OPTIMIZED.onnx: also save the graph ONNX Runtime runs after its (hardware-
//          independent, 'extended' level) graph rewrites, e.g. its QDQ -> QLinearConv fusion
//        node ort_run.js --jobs JOBS.txt   (one "MODEL INPUT DIMS OUTPUT" per line)
// Writes the first output as raw little-endian float32. A job that fails writes
// OUTPUT.err with the message instead (batch mode) or exits 1 (single mode).
// onnxruntime-node is found through NODE_PATH (set by the tests).
const ort = require('onnxruntime-node');
const fs = require('fs');

async function runOne(model, input, dims, output, optimized) {
  const options = {intraOpNumThreads: 1};
  if (optimized) {
    options.graphOptimizationLevel = 'extended';
    options.optimizedModelFilePath = optimized;
  }
  const session = await ort.InferenceSession.create(model, options);
  const bytes = fs.readFileSync(input);
  const data = new Float32Array(bytes.length / 4);
  for (let i = 0; i < data.length; ++i) data[i] = bytes.readFloatLE(4 * i);
  const shape = dims.split(',').map(Number);
  const feeds = {[session.inputNames[0]]: new ort.Tensor('float32', data, shape)};
  const result = await session.run(feeds);
  const y = result[session.outputNames[0]];
  const out = Buffer.alloc(y.data.length * 4);
  for (let i = 0; i < y.data.length; ++i) out.writeFloatLE(y.data[i], 4 * i);
  fs.writeFileSync(output, out);
  return y.dims.join(',');
}

async function main() {
  const args = process.argv.slice(2);
  if (args[0] === '--jobs') {
    const lines = fs.readFileSync(args[1], 'utf8').split('\n').filter((l) => l.trim());
    for (const line of lines) {
      const [model, input, dims, output] = line.trim().split(/\s+/);
      try {
        await runOne(model, input, dims, output);
      } catch (e) {
        fs.writeFileSync(output + '.err', String(e && e.message ? e.message : e));
      }
    }
    return;
  }
  const [model, input, dims, output, optimized] = args;
  if (!output) throw new Error('usage: ort_run.js MODEL INPUT.bin D0,D1,... OUTPUT.bin [OPTIMIZED.onnx]');
  console.log(await runOne(model, input, dims, output, optimized));
}

main().catch((e) => {
  console.error(String(e && e.message ? e.message : e));
  process.exit(1);
});
