// A lookup table filled lazily over the first invocations (as a JVM's heap or
// a lazy cache grows while warming up), then flat. Invalid orders fail with a
// validation error: a code error, not a memory one.
const table = [];
const CHUNKS = 4;

export const handler = async (event = {}) => {
  if (table.length < CHUNKS) {
    table.push(Buffer.alloc(8 * 1024 * 1024, table.length + 1));
  }
  if (event.order === undefined || Number(event.order) < 0) {
    throw new TypeError(`invalid order: ${JSON.stringify(event.order)}`);
  }
  return { order: Number(event.order), table: table.length };
};
