/**
 * The toys the catalog starts with: National Toy Hall of Fame inductees plus "Tux", which is not
 * one but which the lab's clients ask for by name.
 *
 * This list is only the seed for a catalog that has no file yet; once `products.csv` exists it is
 * the truth, so changing a price here does not rewrite a running store. Names carry no commas so
 * they read the same in the CSV, in URLs and in logs.
 */
import type { Product } from '../shared/contracts.ts';

/** Stock every toy starts with, and what the restocker refills an empty toy to. */
export const INITIAL_STOCK = 100;

const PRICES: ReadonlyArray<readonly [name: string, price: number]> = [
  ['Tux', 15.99],
  ['Barbie', 24.99],
  ['Lego', 49.99],
  ['Monopoly', 19.99],
  ['Frisbee', 9.99],
  ['Slinky', 4.99],
  ['Yo-Yo', 3.99],
  ['Etch A Sketch', 21.99],
  ['Crayola Crayons', 5.99],
  ['Play-Doh', 7.99],
  ["Rubik's Cube", 11.99],
  ['Jigsaw Puzzle', 14.99],
  ['Teddy Bear', 17.99],
  ['Scrabble', 18.99],
  ['Hot Wheels', 2.99],
];

/** A fresh copy each call, so no caller can mutate the seed. */
export function initialToys(): Product[] {
  return PRICES.map(([name, price]) => ({ name, price, quantity: INITIAL_STOCK }));
}

export const TOY_NAMES: readonly string[] = PRICES.map(([name]) => name);
