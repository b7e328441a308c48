// Compares a float-input model that outputs softmax probabilities (e.g. an int8 model
// written by `mnv2 quantize`) with golden uint8 outputs of a quantized model, in the real
// TensorFlow Lite runtime compiled to WebAssembly (npm @tensorflow/tfjs-tflite, 1 thread).
// Each golden NHWC uint8 input q is fed as (q - MEAN) / SCALE; the output probability p is
// compared with the golden uint8 output in its domain (level = p * 256).
// usage: node int8_vs_golden.js PKG_DIR MODEL GOLDEN_DIR [MEAN SCALE] [SUFFIX] [bgr]
//   defaults: MEAN 128, SCALE 128, SUFFIX .tflite_wasm.u8; bgr: the model takes BGR (the
//   golden inputs are RGB)
'use strict';
const fs = require('fs');
const path = require('path');

async function main() {
  const [pkg, modelPath, golden, meanArg, scaleArg, suffixArg, order] = process.argv.slice(2);
  if (!pkg || !modelPath || !golden) {
    throw new Error('usage: int8_vs_golden.js PKG_DIR MODEL GOLDEN_DIR [MEAN SCALE] [SUFFIX]');
  }
  const mean = meanArg === undefined ? 128 : Number(meanArg);
  const scale = scaleArg === undefined ? 128 : Number(scaleArg);
  const suffix = suffixArg || '.tflite_wasm.u8';
  const createModule = require(path.resolve(pkg, 'wasm/tflite_web_api_cc.js'));
  const mod = await createModule({
    wasmBinary: fs.readFileSync(path.resolve(pkg, 'wasm/tflite_web_api_cc.wasm'))});
  const bytes = fs.readFileSync(modelPath);
  const ptr = mod._malloc(bytes.length);
  mod.HEAPU8.set(bytes, ptr);
  const created = mod.TFLiteWebModelRunner.CreateFromBufferAndOptions(
      ptr, bytes.length, {numThreads: 1, enableProfiling: false, maxProfilingBufferEntries: 16});
  if (!created.ok()) throw new Error('TFLite rejected the model: ' + created.errorMessage());
  const runner = created.value();
  const inputs = fs.readdirSync(golden).filter((f) => f.endsWith('.input.u8')).sort();
  let agree = 0, worst = 0, meanSum = 0, ms = 0;
  for (const f of inputs) {
    const q = fs.readFileSync(path.join(golden, f));
    const dst = runner.GetInputs().get(0).data();
    if (dst.length !== q.length) throw new Error(f + ': model takes ' + dst.length + ' values');
    for (let i = 0; i < q.length; i++) {
      const c = i % 3, src = order === 'bgr' ? i - c + (2 - c) : i;
      dst[i] = (q[src] - mean) / scale;
    }
    const t0 = process.hrtime.bigint();
    if (!runner.Infer()) throw new Error('Infer failed');
    ms += Number(process.hrtime.bigint() - t0) / 1e6;
    const p = runner.GetOutputs().get(0).data();
    const ref = fs.readFileSync(path.join(golden, f.replace(/\.input\.u8$/, suffix)));
    if (ref.length !== p.length) throw new Error(f + ': ' + p.length + ' outputs, golden ' + ref.length);
    let top = 0, refTop = 0, maxd = 0, sum = 0;
    for (let k = 0; k < p.length; k++) {
      const level = Math.round(p[k] * 256);
      const d = Math.abs(level - ref[k]);
      maxd = Math.max(maxd, d);
      sum += d;
      if (p[k] > p[top]) top = k;
      if (ref[k] > ref[refTop]) refTop = k;
    }
    agree += top === refTop ? 1 : 0;
    worst = Math.max(worst, maxd);
    meanSum += sum / p.length;
    console.log([f.replace(/\.input\.u8$/, ''), top, refTop, Math.round(p[top] * 256), ref[refTop],
                 maxd, (sum / p.length).toFixed(4)].join('\t'));
  }
  console.log(['TOTAL', agree + '/' + inputs.length, 'max', worst, 'mean',
               (meanSum / inputs.length).toFixed(4), 'ms/inference', (ms / inputs.length).toFixed(1)].join('\t'));
}

main().catch((e) => {
  console.error(String(e && e.stack ? e.stack : e));
  process.exit(1);
});
