/**
 * ip: builders and parsers for the routing pieces edgectl owns: policy rules and routing tables in a
 * reserved range (7100-7199), routes marked with protocol number 236, and addresses labelled
 * `lo:edgectl`. Anything outside those marks is never touched.
 */

export const TABLE_BASE = 7100;
export const TABLE_LAST = 7199;
/** Routes edgectl adds to the main table carry this protocol number. */
export const ROUTE_PROTO = '236';
export const ADDR_LABEL = 'lo:edgectl';

export const readRulesArgv = () => ['ip', '-j', 'rule', 'show'];
export const readTableRoutesArgv = (table: number) => ['ip', '-j', 'route', 'show', 'table', String(table)];
export const readProtoRoutesArgv = () => ['ip', '-j', 'route', 'show', 'proto', ROUTE_PROTO];
export const readAddrsArgv = () => ['ip', '-j', 'addr', 'show'];

export interface RuleJson {
  priority: number;
  fwmark?: string;
  table?: string;
  src?: string;
  srclen?: number;
}

/** The priority of the rule that lets the users' unmarked first route lookup succeed. */
export const USERS_RULE_PREF = 7190;

export function fromRuleArgv(src: string, table: number, pref: number): string[] {
  return ['ip', 'rule', 'add', 'from', src, 'lookup', String(table), 'pref', String(pref)];
}

/**
 * `ip -j` output as a list. ip prints nothing, or a lone "[" (when the table does not exist: "FIB table
 * does not exist"), where there is nothing to list.
 */
export function jsonList<T>(text: string): T[] {
  const t = text.trim();
  if (t === '' || t === '[') return [];
  return JSON.parse(t) as T[];
}

export function parseRules(json: string): RuleJson[] {
  return jsonList<RuleJson>(json);
}

/** Our rules: priorities in the reserved range. */
export function ownRules(rules: readonly RuleJson[]): RuleJson[] {
  return rules.filter((r) => r.priority >= TABLE_BASE && r.priority <= TABLE_LAST);
}

export function fwmarkRuleArgv(table: number): string[] {
  return ['ip', 'rule', 'add', 'fwmark', String(table), 'lookup', String(table), 'pref', String(table)];
}

export function ruleDelArgv(priority: number): string[] {
  return ['ip', 'rule', 'del', 'pref', String(priority)];
}

export interface RouteJson {
  dst: string;
  gateway?: string;
  dev?: string;
  protocol?: string;
  table?: string;
}

export function parseRoutes(json: string): RouteJson[] {
  return jsonList<RouteJson>(json);
}

export function tableDefaultArgv(table: number, via: string, dev: string): string[] {
  return ['ip', 'route', 'replace', 'default', 'via', via, 'dev', dev, 'table', String(table)];
}

export function flushTableArgv(table: number): string[] {
  return ['ip', 'route', 'flush', 'table', String(table)];
}

export function protoRouteArgv(op: 'replace' | 'del', dst: string, via: string, dev: string): string[] {
  return ['ip', 'route', op, dst, 'via', via, 'dev', dev, 'proto', ROUTE_PROTO];
}

export interface AddrInfoJson {
  ifname: string;
  addr_info?: { family: string; local: string; prefixlen: number; label?: string }[];
}

export interface InterfaceAddress {
  dev: string;
  address: string;
  prefix: number;
  label?: string;
}

export function parseAddrs(json: string): InterfaceAddress[] {
  const links = jsonList<AddrInfoJson>(json);
  return links.flatMap((l) =>
    (l.addr_info ?? [])
      .filter((a) => a.family === 'inet')
      .map((a) => ({
        dev: l.ifname,
        address: a.local,
        prefix: a.prefixlen,
        ...(a.label ? { label: a.label } : {}),
      })),
  );
}

export function labelledAddrArgv(op: 'add' | 'del', address: string): string[] {
  return ['ip', 'addr', op, `${address}/32`, 'dev', 'lo', ...(op === 'add' ? ['label', ADDR_LABEL] : [])];
}
