// ort_agree.js ORIGINAL CANDIDATE [--shape IN=d0,d1] [--dim NAME=V] [--sets N]
//                                 [--lines FILE.rgb [--reference FILE.json]]
// An evaluator for `ggpack tune` (see docs/tune.md): runs both models in
// ONNX Runtime and prints how often the candidate's top output agrees with
// the original's. With random inputs (N seeded sets, uniform in [-1, 1]):
// for every float output, the fraction of positions (all axes but the
// last) whose argmax over the last axis is the same, averaged. With
// --lines (320x48 RGB text lines, make_text_lines.sh), for a CTC text
// recognizer taking [1, 3, 48, 320] normalized as PaddleOCR does: the
// fraction of lines whose decoded index sequence (argmax, repeats and the
// blank 0 removed, spaces at the ends stripped) is the same. 1 means the
// candidate always agrees.
// Needs NODE_PATH with onnxruntime-node.
const fs = require('fs');
const ort = require('onnxruntime-node');

function parse(argv) {
  const o = { models: [], shapes: {}, dims: {}, sets: 8 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--shape') { const [k, v] = argv[++i].split('='); o.shapes[k] = v.split(',').map(Number); }
    else if (a === '--dim') { const [k, v] = argv[++i].split('='); o.dims[k] = Number(v); }
    else if (a === '--sets') o.sets = Number(argv[++i]);
    else if (a === '--lines') o.lines = argv[++i];
    else if (a === '--reference') o.reference = argv[++i];
    else o.models.push(a);
  }
  if (o.models.length !== 2) throw new Error('usage: ort_agree.js ORIGINAL CANDIDATE [options]');
  return o;
}

function rng(seed) { // mulberry32
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6D2B79F5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), s | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function inputs(meta, o, seed) {
  const r = rng(seed), feeds = {};
  for (const m of meta) {
    const shape = o.shapes[m.name] || m.shape.map(d => typeof d === 'number' && d >= 0 ? d : (o.dims[d] ?? 1));
    const n = shape.reduce((a, b) => a * b, 1);
    if (m.type !== 'float32') throw new Error(`input ${m.name}: ${m.type} not supported`);
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = 2 * r() - 1;
    feeds[m.name] = new ort.Tensor('float32', data, shape);
  }
  return feeds;
}

function agreement(ta, tb) {
  const last = ta.dims[ta.dims.length - 1] || 1, rows = ta.data.length / last;
  let same = 0;
  for (let r = 0; r < rows; r++) {
    let ia = 0, ib = 0;
    for (let k = 1; k < last; k++) {
      if (ta.data[r * last + k] > ta.data[r * last + ia]) ia = k;
      if (tb.data[r * last + k] > tb.data[r * last + ib]) ib = k;
    }
    same += ia === ib;
  }
  return rows ? same / rows : 1;
}

// The CTC decoding of one line: argmax per step, repeats and blanks dropped.
function decode(t) {
  const last = t.dims[t.dims.length - 1], steps = t.data.length / last, seq = [];
  let prev = -1;
  for (let r = 0; r < steps; r++) {
    let best = 0;
    for (let k = 1; k < last; k++) if (t.data[r * last + k] > t.data[r * last + best]) best = k;
    if (best !== prev && best !== 0) seq.push(best);
    prev = best;
  }
  // PaddleOCR's last class is the space: strip it at both ends, as a
  // reader of the text would
  while (seq.length && seq[seq.length - 1] === last - 1) seq.pop();
  while (seq.length && seq[0] === last - 1) seq.shift();
  return seq.join(',');
}

// The decoded lines of one model.
async function read_lines(path, o) {
  const s = await ort.InferenceSession.create(path);
  const raw = fs.readFileSync(o.lines), size = 320 * 48 * 3, n = raw.length / size, texts = [];
  for (let l = 0; l < n; l++) {
    const data = new Float32Array(size);
    for (let c = 0; c < 3; c++) // HWC bytes to CHW, (x / 255 - 0.5) / 0.5
      for (let p = 0; p < 320 * 48; p++) data[c * 320 * 48 + p] = raw[l * size + p * 3 + c] / 127.5 - 1;
    const out = await s.run({ [s.inputNames[0]]: new ort.Tensor('float32', data, [1, 3, 48, 320]) });
    texts.push(decode(out[s.outputNames[0]]));
  }
  return texts;
}

// Line agreement; the original's lines read once and kept in --reference.
async function lines(o) {
  let ref;
  if (o.reference && fs.existsSync(o.reference)) ref = JSON.parse(fs.readFileSync(o.reference));
  else ref = await read_lines(o.models[0], o);
  if (o.reference && !fs.existsSync(o.reference)) fs.writeFileSync(o.reference, JSON.stringify(ref));
  const cand = await read_lines(o.models[1], o);
  return cand.filter((t, i) => t === ref[i]).length / ref.length;
}

(async () => {
  const o = parse(process.argv.slice(2));
  if (o.lines) {
    console.log(await lines(o));
    return;
  }
  const a = await ort.InferenceSession.create(o.models[0]), b = await ort.InferenceSession.create(o.models[1]);
  let sum = 0, count = 0;
  for (let s = 1; s <= o.sets; s++) {
    const feeds = inputs(a.inputMetadata, o, s);
    const oa = await a.run(feeds), ob = await b.run(feeds);
    for (const name of Object.keys(oa)) {
      if (oa[name].type !== 'float32') continue;
      if (!ob[name] || ob[name].dims.join() !== oa[name].dims.join()) throw new Error(`output ${name} differs`);
      sum += agreement(oa[name], ob[name]);
      count++;
    }
  }
  console.log(count ? sum / count : 1);
})().catch(e => { console.error('ort_agree:', e.message || e); process.exit(1); });
