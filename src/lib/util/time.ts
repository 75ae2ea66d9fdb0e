/** Waiting: a plain sleep, and polling until something holds. */
export async function sleep(ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}

/** Polls `check` until it is true or `ms` pass; returns whether it became true. */
export async function waitFor(
  check: () => Promise<boolean> | boolean,
  ms: number,
  every = 100,
): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > deadline) return false;
    await sleep(every);
  }
}
