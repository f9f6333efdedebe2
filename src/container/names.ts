/**
 * @module container/names
 * docker-style generated container names (`adjective_noun`), so `ps` stays readable without
 * `--name`. A short suffix is added when the plain pair is taken.
 */
import { randomInt } from '../sys/crypto.js';

const ADJECTIVES = ['brave', 'calm', 'eager', 'fond', 'gentle', 'happy', 'jolly', 'keen', 'lucid', 'merry', 'nifty', 'proud', 'quiet', 'sharp', 'swift', 'tender', 'vivid', 'witty', 'zealous', 'bold'];
const NOUNS = ['cairn', 'stone', 'ridge', 'summit', 'valley', 'glacier', 'boulder', 'pebble', 'granite', 'basalt', 'slate', 'marble', 'flint', 'quartz', 'scree', 'tor', 'crag', 'fell', 'moraine', 'col'];

function pick<T>(items: readonly T[]): T {
  return items[randomInt(items.length)] as T;
}

export function randomName(taken: (name: string) => boolean): string {
  for (let i = 0; i < 50; i++) {
    const name = `${pick(ADJECTIVES)}_${pick(NOUNS)}`;
    if (!taken(name)) return name;
  }
  let name: string;
  do name = `${pick(ADJECTIVES)}_${pick(NOUNS)}_${randomInt(1000)}`;
  while (taken(name));
  return name;
}
