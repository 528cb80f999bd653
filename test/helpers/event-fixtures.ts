/** The event fixtures in test/fixtures/events, and the assertion the event parser tests share. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { thrownBy } from './rejection';
import { EventValidationError } from '../../shared/events';

export const EVENT_FIXTURES = join(__dirname, '..', 'fixtures', 'events');

/** A fixture's bytes, as FC hands an event to a handler. */
export const rawFixture = (name: string): Buffer => readFileSync(join(EVENT_FIXTURES, name));

export const fixture = (name: string): unknown => JSON.parse(rawFixture(name).toString('utf8'));

/**
 * A fresh, mutable copy of a fixture. Typed `any` on purpose: each test breaks a different field
 * by path, and a type precise enough to allow that would be the fixture itself.
 */
export type EditableFixture = any;
export const editable = (name: string): EditableFixture => fixture(name);

/** Throws unless fn throws EventValidationError; returns it for further assertions. */
export function validationError(fn: () => unknown): EventValidationError {
  return thrownBy(EventValidationError, fn);
}
