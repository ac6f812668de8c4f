import { createHash } from 'node:crypto';

// Key stretching: `rounds` chained hashes. Pure CPU, little memory: its
// duration is the CPU share the function gets.
export const handler = async (event = {}) => {
  const rounds = Number(event.rounds ?? 20000);
  let digest = Buffer.from(String(event.key ?? 'key'));
  for (let i = 0; i < rounds; i++) {
    digest = createHash('sha256').update(digest).digest();
  }
  return { rounds, digest: digest.toString('hex') };
};
