// The reviewer's verdict, parsed from its last message. Kept apart from review.ts, and imported only when a
// review has output, so that zod loads in a thread only if it runs a review.
import * as z from "zod";

const ReviewFinding = z.looseObject({
  title: z.string(),
  body: z.string(),
  confidence_score: z.number(),
  priority: z.number(),
  code_location: z.looseObject({
    absolute_file_path: z.string(),
    line_range: z.object({ start: z.number(), end: z.number() }),
  }),
});

export const ReviewOutputEvent = z.looseObject({
  findings: z.array(ReviewFinding).default([]),
  overall_correctness: z.string().default(""),
  overall_explanation: z.string().default(""),
  overall_confidence_score: z.number().default(0),
});
export type ReviewOutputEvent = z.infer<typeof ReviewOutputEvent>;

/** The whole text as JSON, else the span from the first `{` to the last `}`, else the text as the explanation. */
export function parseReviewOutput(text: string): ReviewOutputEvent {
  const candidates = [text, text.slice(text.indexOf("{"), text.lastIndexOf("}") + 1)];
  for (const candidate of candidates) {
    try {
      const parsed = ReviewOutputEvent.safeParse(JSON.parse(candidate));
      if (parsed.success) return parsed.data;
    } catch {
      // try the next candidate
    }
  }
  return { findings: [], overall_correctness: "", overall_explanation: text, overall_confidence_score: 0 };
}
