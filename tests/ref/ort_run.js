// Runs one ONNX model in ONNX Runtime (onnxruntime-node, CPU) on a raw float32 input.
// Usage: node ort_run.js MODEL.onnx INPUT.bin D0,D1,D2,D3 OUTPUT.bin
// Writes the first output as raw little-endian float32 and prints its dims.
// onnxruntime-node is found through NODE_PATH (set by the tests).
const ort = require('onnxruntime-node');
const fs = require('fs');

async function main() {
  const [model, input, dims, output] = process.argv.slice(2);
  if (!output) throw new Error('usage: ort_run.js MODEL INPUT.bin D0,D1,... OUTPUT.bin');
  const session = await ort.InferenceSession.create(model, {intraOpNumThreads: 1});
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
  console.log(y.dims.join(','));
}

main().catch((e) => {
  console.error(String(e && e.message ? e.message : e));
  process.exit(1);
});
