// The tool definitions offered to the model, in Codex's shapes (the `shell` and `update_plan` function tools).
import type { ToolSpec } from "../model/types.js";

export const SHELL_TOOL: ToolSpec = {
  type: "function",
  name: "shell",
  description: "Runs a shell command and returns its output.",
  parameters: {
    type: "object",
    properties: {
      command: { type: "array", items: { type: "string" }, description: "The command to execute" },
      workdir: { type: "string", description: "The working directory to execute the command in" },
      timeout_ms: { type: "number", description: "The timeout for the command in milliseconds" },
      with_escalated_permissions: {
        type: "boolean",
        description:
          "Whether to request escalated permissions. Set to true if command needs to be run without sandbox restrictions",
      },
      justification: {
        type: "string",
        description:
          "Only set if with_escalated_permissions is true. 1-sentence explanation of why we want to run this command.",
      },
    },
    required: ["command"],
    additionalProperties: false,
  },
};

export const PLAN_STEP_STATUSES = ["pending", "in_progress", "completed"] as const;

export const UPDATE_PLAN_TOOL: ToolSpec = {
  type: "function",
  name: "update_plan",
  description:
    "Updates the task plan.\nProvide an optional explanation and a list of plan items, each with a step and status.\n" +
    "At most one step can be in_progress at a time.\n",
  parameters: {
    type: "object",
    properties: {
      explanation: { type: "string" },
      plan: {
        type: "array",
        description: "The list of steps",
        items: {
          type: "object",
          properties: {
            step: { type: "string" },
            status: { type: "string", enum: [...PLAN_STEP_STATUSES], description: "One of: pending, in_progress, completed" },
          },
          required: ["step", "status"],
          additionalProperties: false,
        },
      },
    },
    required: ["plan"],
    additionalProperties: false,
  },
};

/** Agent as a tool: a one-shot sub-agent does the work and its last message is the output. */
export const DELEGATE_TOOL: ToolSpec = {
  type: "function",
  name: "delegate",
  description:
    "Hands a self-contained task to a sub-agent that works in the same workspace with the same tools, and returns its final answer. Use it for work that can be described completely in one prompt.",
  parameters: {
    type: "object",
    properties: {
      prompt: { type: "string", description: "The complete task for the sub-agent, with everything it needs to know." },
    },
    required: ["prompt"],
    additionalProperties: false,
  },
};
