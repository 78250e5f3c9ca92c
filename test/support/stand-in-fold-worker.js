// A stand-in for training/fold-worker.js, to test the pool itself: answers a fit job with the recipe's
// name, exits (as a crashing worker would) when the recipe is "crash", and never answers "hang".
const { parentPort } = require('node:worker_threads');
parentPort.on('message', (request) => {
  if (request.job.recipe === 'crash') process.exit(3);
  if (request.job.recipe === 'hang') return;
  parentPort.postMessage({ id: request.id, ok: true, result: { name: request.job.recipe, rows: request.job.train.n } });
});
