// The entry point of the bundle (dist/leasehold-sidecar.mjs), which the bin, the image and the tests run.
import { main } from './main.ts';

process.exitCode = await main(process.argv.slice(2), process.env);
