// Runs a float32 .tflite model with TensorFlow Lite compiled to WebAssembly (the npm
// package @tensorflow/tfjs-tflite, its plain wasm build, one thread) and writes the raw
// float32 output for each raw float32 input file.
// usage: node run_tflite_wasm.js PKG_DIR MODEL IN1.f32 OUT1.f32 [IN2.f32 OUT2.f32 ...]
'use strict';
const fs = require('fs');
const path = require('path');

async function main() {
  const [pkg, modelPath, ...files] = process.argv.slice(2);
  if (!pkg || !modelPath || files.length === 0 || files.length % 2 !== 0) {
    throw new Error('usage: run_tflite_wasm.js PKG_DIR MODEL IN OUT [IN OUT ...]');
  }
  const createModule = require(path.resolve(pkg, 'wasm/tflite_web_api_cc.js'));
  const wasm = fs.readFileSync(path.resolve(pkg, 'wasm/tflite_web_api_cc.wasm'));
  const mod = await createModule({wasmBinary: wasm});
  const bytes = fs.readFileSync(modelPath);
  const ptr = mod._malloc(bytes.length);
  mod.HEAPU8.set(bytes, ptr);
  const created = mod.TFLiteWebModelRunner.CreateFromBufferAndOptions(
      ptr, bytes.length, {numThreads: 1, enableProfiling: false, maxProfilingBufferEntries: 16});
  if (!created.ok()) throw new Error('TFLite rejected the model: ' + created.errorMessage());
  const runner = created.value();
  for (let i = 0; i < files.length; i += 2) {
    const raw = fs.readFileSync(files[i]);
    const x = new Float32Array(raw.buffer, raw.byteOffset, raw.length / 4);
    const input = runner.GetInputs().get(0);
    if (input.dataType !== 'float32') throw new Error('input type is ' + input.dataType);
    const dst = input.data();
    if (dst.length !== x.length) {
      throw new Error('input has ' + dst.length + ' values, file ' + x.length);
    }
    dst.set(x);
    if (!runner.Infer()) throw new Error('Infer failed');
    const out = runner.GetOutputs().get(0);
    if (out.dataType !== 'float32') throw new Error('output type is ' + out.dataType);
    const y = Float32Array.from(out.data());
    fs.writeFileSync(files[i + 1], Buffer.from(y.buffer));
    console.log(path.basename(files[i]), 'shape', out.shape, 'values', y.length);
  }
}

main().catch((e) => {
  console.error(String(e && e.stack ? e.stack : e));
  process.exit(1);
});
