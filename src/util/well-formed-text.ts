// Text that SQLite can store as given. JSON's \ud800-style escapes can spell half a UTF-16 surrogate pair,
// which is no character: SQLite (UTF-8) stores it as U+FFFD, so what was logged or imported would differ
// from what was sent. Such strings are refused at the boundary, naming the field.
import { z } from 'zod';

/** A high surrogate not followed by a low one, or a low one not preceded by a high one. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

const NOT_TEXT_MESSAGE = 'holds half of a UTF-16 surrogate pair (an escape such as \\ud800 alone): not text';

/** A string with no lone surrogate. */
export const wellFormedText = (): z.ZodString => z.string().refine((v) => !LONE_SURROGATE.test(v), { message: NOT_TEXT_MESSAGE });
