/** A base station of the model for unit tests: radio subnet 198.18.(10 + k).0/24, the default path loss. */
import {
  type Basestation,
  DEFAULT_PATH_LOSS,
  type Point,
  radioAddressing,
  type Shadowing,
} from '../../src/lib/inventory/index.js';

export function testBasestation(
  name: string,
  position: Point,
  k: number,
  shadowing?: Shadowing,
): Basestation {
  const radioSubnet = `198.18.${10 + k}.0/24`;
  return {
    name,
    host: name,
    position,
    radioSubnet,
    radio: radioAddressing(radioSubnet),
    standard: '802.11n',
    maxUsers: 10,
    pathLoss: { ...DEFAULT_PATH_LOSS, ...(shadowing ? { shadowing } : {}) },
    at: { line: 1, column: 1 },
  };
}
