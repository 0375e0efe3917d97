// ort_classify.js MODEL IMAGES.f32 OUT.pred - runs an MLP classifier in
// ONNX Runtime on N x 784 float32 images (train_fmnist writes them) and
// writes the predicted class of each as one byte: the outside judge of the
// Fashion-MNIST experiment's own forward pass. Needs NODE_PATH with
// onnxruntime-node.
const ort = require('onnxruntime-node');
const fs = require('fs');

(async () => {
  const [model, images, out] = process.argv.slice(2);
  const s = await ort.InferenceSession.create(model);
  const raw = fs.readFileSync(images);
  const x = new Float32Array(raw.buffer, raw.byteOffset, raw.length / 4), n = x.length / 784;
  const pred = Buffer.alloc(n);
  for (let at = 0; at < n; at += 1000) {
    const m = Math.min(1000, n - at);
    const feeds = { [s.inputNames[0]]: new ort.Tensor('float32', x.slice(at * 784, (at + m) * 784), [m, 784]) };
    const z = (await s.run(feeds))[s.outputNames[0]].data, classes = z.length / m;
    for (let i = 0; i < m; i++) {
      let best = 0;
      for (let k = 1; k < classes; k++) if (z[i * classes + k] > z[i * classes + best]) best = k;
      pred[at + i] = best;
    }
  }
  fs.writeFileSync(out, pred);
})().catch(e => { console.error('ort_classify:', e.message || e); process.exit(1); });
