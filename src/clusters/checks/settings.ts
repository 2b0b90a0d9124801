/**
 * Checks of time, name services and advanced settings: NTP servers, DNS servers and search domains
 * listed once; advanced settings set once, each value of its declared type.
 */
import { dupes, type SectionCheck } from './section.js';

/** NTP and DNS lists without duplicates. */
export const checkNameServices: SectionCheck = ({ c, err }) => {
  dupes(
    c.ntpServers.map((s) => s.toLowerCase()),
    (j, s) => err(`/cluster/ntp/server[${j + 1}]`, `NTP server ${s} is listed twice`),
  );
  dupes(c.dns.servers, (j, s) => err(`/cluster/dns/server[${j + 1}]`, `DNS server ${s} is listed twice`));
  dupes(
    c.dns.searchDomains.map((s) => s.toLowerCase()),
    (j, s) => err(`/cluster/dns/searchDomain[${j + 1}]`, `search domain ${s} is listed twice`),
  );
};

/** Advanced settings: each key once, values of their declared type. */
export const checkAdvanced: SectionCheck = ({ c, err }) => {
  const keys = new Map<string, number>();
  c.advanced.forEach((s, i) => {
    const p = `/cluster/advanced/setting[${i + 1}]`;
    if (keys.has(s.key))
      err(`${p}/@key`, `advanced setting ${s.key} is set twice (first at setting[${keys.get(s.key)! + 1}])`);
    else keys.set(s.key, i);
    if (s.type === 'int' && !(typeof s.value === 'number' && s.value >= -(2 ** 31) && s.value < 2 ** 31)) {
      err(`${p}/@value`, `value "${String(s.value)}" of ${s.key} is not a 32-bit integer (type="int")`);
    } else if (s.type === 'long' && !(typeof s.value === 'number' && Number.isSafeInteger(s.value))) {
      err(`${p}/@value`, `value "${String(s.value)}" of ${s.key} is not an integer (type="long")`);
    } else if (s.type === 'boolean' && typeof s.value !== 'boolean') {
      err(`${p}/@value`, `value "${String(s.value)}" of ${s.key} is not true or false (type="boolean")`);
    }
  });
};
