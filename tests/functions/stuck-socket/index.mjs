import net from 'node:net';

// Asks a loopback service for a quote and waits for the answer, with no
// timeout of its own: when the service accepts and never answers, the
// invocation waits until Lambda's timeout.
export const handler = async (event = {}) => {
  const port = Number(event.port);
  console.log(`asking the quote service on 127.0.0.1:${port}`);
  const answer = await new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port }, () => socket.write('QUOTE\n'));
    socket.once('data', (data) => { socket.end(); resolve(String(data).trim()); });
    socket.once('error', reject);
  });
  return { answer };
};
