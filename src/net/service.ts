/**
 * The lifecycle contract every long-running listener implements (TFTP, DHCP, phone-home TCP,
 * HTTP). It lives here, below every subsystem, so that listeners do not import the composition
 * root (src/app/server.ts), which starts them in order and closes them in reverse.
 */

/** A long-running part of the server. `start` rejects with a BindError when a port is taken. */
export interface Service {
  readonly name: string;
  start(): Promise<void>;
  close(): Promise<void>;
}
