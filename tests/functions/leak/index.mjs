// Remembers every request "for later", in module state that lives as long as
// the execution environment: each invocation adds `kb` KB that is never freed.
const seen = [];

export const handler = async (event = {}) => {
  const kb = Number(event.kb ?? 12288);
  seen.push(Buffer.alloc(kb * 1024, seen.length % 256));
  return { remembered: seen.length };
};
