// The entry point of the bundle (dist/leasehold-sidecar.mjs), which the bin, the image and the tests run.
// Its first statement listens for the stop signal: in a container this process is PID 1, where a signal
// with no handler is dropped, so a pod deleted while the sidecar loads would otherwise wait for SIGKILL.
// Everything else loads after that (a chunk of its own).
// The handlers stay: a second SIGTERM (a runtime that sends one more, a user) must not cut the release
// short with the default action; the first one is the one that counts.
const stopSignal = new Promise<NodeJS.Signals>((resolve) => {
  process.on('SIGTERM', () => resolve('SIGTERM'));
  process.on('SIGINT', () => resolve('SIGINT'));
});
const { main } = await import('./main.ts');
process.exitCode = await main(process.argv.slice(2), process.env, stopSignal);
