/**
 * A raw TCP connection to a test server, for stories about bytes on the wire (repeated headers,
 * chunked or unsent bodies, what a connection carries next): what it received so far, how many
 * responses that holds, and whether the server closed it. Tests destroy the socket themselves.
 */
import net from 'node:net';

export interface RawConnection {
  socket: net.Socket;
  text: () => string;
  closed: () => boolean;
  responses: () => number;
}

export async function connectRaw(port: number, host = '127.0.0.1'): Promise<RawConnection> {
  const socket = net.connect(port, host);
  let data = '';
  let closed = false;
  socket.setEncoding('utf8');
  socket.on('data', (d: string) => (data += d));
  socket.on('error', () => {});
  socket.on('close', () => (closed = true));
  await new Promise<void>((r) => socket.once('connect', () => r()));
  return {
    socket,
    text: () => data,
    closed: () => closed,
    responses: () => (data.match(/HTTP\/1\.1 \d{3} /g) ?? []).length,
  };
}
