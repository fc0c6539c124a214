// The E2E's own text matching: a wait for '50' must not be satisfied by '150'.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { containsWhole } from './webdriver.mjs';

test('a string is found only as a whole, never as part of a longer number', () => {
  assert.equal(containsWhole('Redeem 50 credits?', '50 credits'), true);
  assert.equal(containsWhole('Redeem 150 credits?', '50 credits'), false);
  assert.equal(containsWhole('150', '50'), false);
  assert.equal(containsWhole('500', '50'), false);
  assert.equal(containsWhole('50', '50'), true);
  assert.equal(containsWhole('150 then 50', '50'), true, 'a later whole occurrence counts');
  assert.equal(containsWhole('Sign-in cancelled.', 'cancelled'), true);
  assert.equal(containsWhole('2026-11-30Credits bought', 'Credits bought'), true, 'cells run together');
  assert.equal(containsWhole('Redeem 3 credits', '3 credits'), true);
  assert.equal(containsWhole('Redeem 13 credits', '3 credits'), false);
  assert.equal(containsWhole('saved to /tmp/result-3.csv', '.csv'), true);
  assert.equal(containsWhole('Analytics run −2, held then paid', 'Analytics run −2, held then paid'), true);
});
