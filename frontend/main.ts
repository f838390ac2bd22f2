/**
 * Starts the frontend: `npm run frontend`. Parse config, make the real IO (pooled HTTP, the
 * system clock, a pino logger), build (frontend/build.ts), listen, shut down. It serves the
 * public API on FRONTEND_PORT and the catalog's change feed on FRONTEND_INTERNAL_PORT (kept apart
 * so internal endpoints are not reachable through the public port).
 */
import { systemClock } from '../shared/clock.ts';
import { serviceConfig } from '../shared/cli.ts';
import { createPooledHttp } from '../shared/http.ts';
import { announce, createLogger } from '../shared/logger.ts';
import { createRegistry } from '../shared/metrics.ts';
import { listen, onShutdownSignal, type Listening } from '../shared/serve.ts';
import { buildFrontend } from './build.ts';

const config = serviceConfig('frontend');
const logger = createLogger('frontend', config.logging);
const http = createPooledHttp();
const built = buildFrontend(config, {
  clock: systemClock,
  http,
  logger,
  registry: createRegistry({ defaults: true }),
});
let publicServer: Listening | undefined;
let internalServer: Listening | undefined;
// Registered before "listening" is printed: a launcher may signal as soon as it sees that line.
onShutdownSignal(
  'frontend',
  async () => {
    built.stop();
    await Promise.all([publicServer?.close(), internalServer?.close()]);
    await http.close();
  },
  undefined,
  logger,
);
publicServer = await listen(built.publicApp.fetch, config.host, config.frontendPort, {
  fastPath: built.publicApp.fastPath,
});
internalServer = await listen(built.internalApp.fetch, config.host, config.frontendInternalPort);
built.start();
announce(
  logger,
  { url: publicServer.url, internalUrl: internalServer.url },
  `frontend listening on ${publicServer.url} (internal ${internalServer.url}; cache ${config.cacheEnabled ? `${config.cacheSize} entries` : 'off'}; status page ${publicServer.url}/status)`,
);
