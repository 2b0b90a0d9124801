/**
 * Turns a failed bind (EACCES, EADDRINUSE, EADDRNOTAVAIL) into a message that names the port and
 * the remedy. Used by every listener (TFTP, DHCP, HTTP, initiator).
 */

/** A listener that could not bind; `message` names protocol, address, port and what to do. */
export class BindError extends Error {
  override name = 'BindError';
  constructor(
    message: string,
    readonly code: string | undefined,
    readonly port: number,
  ) {
    super(message);
  }
}

/**
 * @param err the error from `listen`/`bind`
 * @param what e.g. `TFTP (udp)`
 * @param address the address we tried to bind
 * @param port the port we tried to bind
 * @param flag the CLI flag that moves it, e.g. `--tftp-port`
 */
export function toBindError(err: unknown, what: string, address: string, port: number, flag: string): BindError {
  const e = err as NodeJS.ErrnoException;
  const where = `${what} cannot bind ${address}:${port}`;
  switch (e.code) {
    case 'EACCES':
    case 'EPERM':
      return new BindError(
        `${where}: permission denied. Ports below 1024 need root or CAP_NET_BIND_SERVICE ` +
          `(sudo setcap cap_net_bind_service=+ep "$(command -v node)"), or choose another port with ${flag}.`,
        e.code,
        port,
      );
    case 'EADDRINUSE':
      return new BindError(
        `${where}: the port is already in use (another server? check with 'ss -lnp | grep :${port}'); stop it or choose another port with ${flag}.`,
        e.code,
        port,
      );
    case 'EADDRNOTAVAIL':
      return new BindError(
        `${where}: the address is not on this machine; fix --listen-address or --interface.`,
        e.code,
        port,
      );
    default:
      return new BindError(`${where}: ${e.message}`, e.code, port);
  }
}
