// Allocates `megabytes` MB on each invocation (default 200): at 128 MB of
// Lambda memory it runs out; give it ~256 MB and it is healthy. Used to watch
// autorepair repair a real function.
export const handler = async (event = {}) => {
  const megabytes = Number(event.megabytes ?? 200);
  const hoard = [];
  for (let i = 0; i < megabytes; i++) {
    hoard.push(Buffer.alloc(1024 * 1024, i % 256));
  }
  return { allocatedMb: hoard.length };
};
