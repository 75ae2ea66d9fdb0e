// The face service's model, in its worker thread (see startModel in ../lib/vision.mjs): face-api's
// SSD-MobileNetV1 detection, 68 landmarks for alignment and the 128-d descriptor, on TensorFlow.js's wasm
// backend. Per frame it answers the faces found (box, score, descriptor); matching them against the
// galleries is the service's, on its main thread.
import { join } from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import { frameInput, require, round4, serveModel, setupWasm } from '../lib/vision.mjs';

const MODELS = ['ssdMobilenetv1', 'faceLandmark68Net', 'faceRecognitionNet'];

/** The directory of face-api's weights, wherever npm put the package. */
export function faceModelDir() {
  return join(require.resolve('@vladmandic/face-api/dist/face-api.node-wasm.js'), '..', '..', 'model');
}

async function load({ minConfidence, zeroFreed }) {
  const tf = require('@tensorflow/tfjs');
  const faceapi = require('@vladmandic/face-api/dist/face-api.node-wasm.js');
  await setupWasm(tf, require('@tensorflow/tfjs-backend-wasm'), { zeroFreed });
  for (const net of MODELS) await faceapi.nets[net].loadFromDisk(faceModelDir());
  const options = new faceapi.SsdMobilenetv1Options({ minConfidence, maxResults: 20 });
  return { model: { tf, faceapi, options }, info: { backend: tf.getBackend() } };
}

async function infer({ tf, faceapi, options }, payload, id) {
  const { maxSide, fixedInput } = workerData;
  const { width, height, input } = frameInput(payload, id, { maxSide, fixedInput });
  const tensor = tf.tensor3d(input.data, [input.height, input.width, 3], 'int32');
  let found;
  try {
    found = await faceapi.detectAllFaces(tensor, options).withFaceLandmarks().withFaceDescriptors();
  } finally {
    tensor.dispose();
  }
  const faces = found.map((face) => {
    const box = face.detection.box;
    return {
      box: [Math.round(box.x), Math.round(box.y), Math.round(box.width), Math.round(box.height)],
      score: round4(face.detection.score),
      descriptor: Array.from(face.descriptor, (x) => Math.round(x * 1e6) / 1e6),
    };
  });
  return { width, height, faces };
}

if (parentPort) await serveModel(parentPort, workerData, load, infer);
