// Allocates `megabytes` MB on each invocation (default 200): at 128 MB of
// Lambda memory it runs out; at 256 MB most invocations fit beside Node.js
// itself (~45 MB), some may not; 512 MB is ample. Used to watch autorepair
// repair a real function (the tests and the demo run it in a memory cgroup).
export const handler = async (event = {}) => {
  const megabytes = Number(event.megabytes ?? 200);
  const hoard = [];
  for (let i = 0; i < megabytes; i++) {
    hoard.push(Buffer.alloc(1024 * 1024, i % 256));
  }
  return { allocatedMb: hoard.length };
};
