/**
 * The one function that turns an argv into a command line for a POSIX shell (the remote user's login
 * shell, through sshd). Every argument comes out as exactly one word with its bytes intact.
 */
const SAFE = /^[A-Za-z0-9_\-+=/.,:@%]+$/;

export function shellQuote(arg: string): string {
  if (arg === '') return "''";
  if (SAFE.test(arg)) return arg;
  // Inside single quotes nothing is special except the closing quote itself: close, add an escaped
  // quote, reopen.
  return `'${arg.replaceAll("'", `'\\''`)}'`;
}

export function shellJoin(argv: readonly string[]): string {
  return argv.map(shellQuote).join(' ');
}
