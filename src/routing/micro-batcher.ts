// Groups calls that arrive in the same turn of the event loop into one batch. Under concurrent load the
// embedder and the classifier then run once for many prompts, so their fixed per-call cost (tensor set-up,
// the onnxruntime round trip) is paid once per batch instead of once per request. A lone call waits only
// for the current turn to finish (setImmediate), not for a timer.

export function createMicroBatcher<I, O>(run: (items: I[]) => Promise<O[]>, maxBatch = 32): (item: I) => Promise<O> {
  let queue: { item: I; resolve: (o: O) => void; reject: (e: unknown) => void }[] = [];
  let scheduled = false;

  const flush = (): void => {
    scheduled = false;
    const batch = queue.slice(0, maxBatch);
    queue = queue.slice(batch.length);
    if (queue.length > 0) schedule();
    run(batch.map((b) => b.item)).then(
      (outs) => batch.forEach((b, i) => b.resolve(outs[i])),
      (err: unknown) => {
        // One bad item (a prompt a drop-in classifier answers with NaN) must not fail the others batched
        // with it: each is run again alone, so only its own call fails.
        if (batch.length === 1) batch[0].reject(err);
        else for (const b of batch) run([b.item]).then((outs) => b.resolve(outs[0]), b.reject);
      },
    );
  };
  const schedule = (): void => {
    if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
  };
  return (item) =>
    new Promise<O>((resolve, reject) => {
      queue.push({ item, resolve, reject });
      schedule();
    });
}
