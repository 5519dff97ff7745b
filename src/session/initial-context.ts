// The messages a new session starts its history with (reference section 6.3), and the per-turn
// environment diff. Their markers make them "not user messages" for fork counting.
import type { MessageItem, SandboxPolicy } from "../protocol/index.js";
import { sandboxMode } from "../protocol/plain.js";
import type { AskForApproval } from "../protocol/index.js";

export type EnvironmentContext = {
  cwd?: string;
  approvalPolicy?: AskForApproval;
  sandboxPolicy?: SandboxPolicy;
  shell?: string;
};

export function environmentContextText(context: EnvironmentContext): string {
  const lines = ["<environment_context>"];
  if (context.cwd !== undefined) lines.push(`  <cwd>${context.cwd}</cwd>`);
  if (context.approvalPolicy !== undefined) lines.push(`  <approval_policy>${context.approvalPolicy}</approval_policy>`);
  if (context.sandboxPolicy !== undefined) {
    const mode = sandboxMode(context.sandboxPolicy);
    const policy = context.sandboxPolicy as { network_access?: boolean; writable_roots?: string[] };
    lines.push(`  <sandbox_mode>${mode}</sandbox_mode>`);
    const network = mode === "danger-full-access" || (mode === "workspace-write" && policy.network_access === true);
    lines.push(`  <network_access>${network ? "enabled" : "restricted"}</network_access>`);
    if (mode === "workspace-write" && (policy.writable_roots?.length ?? 0) > 0) {
      lines.push("  <writable_roots>");
      for (const root of policy.writable_roots ?? []) lines.push(`    <root>${root}</root>`);
      lines.push("  </writable_roots>");
    }
  }
  if (context.shell !== undefined) lines.push(`  <shell>${context.shell}</shell>`);
  lines.push("</environment_context>");
  return lines.join("\n");
}

export type InitialContextInput = EnvironmentContext & {
  cwd: string;
  userInstructions?: string | undefined;
  developerInstructions?: string | undefined;
};

export function buildInitialContext(input: InitialContextInput): MessageItem[] {
  const items: MessageItem[] = [];
  const text = (role: string, value: string): MessageItem => ({
    type: "message",
    role,
    content: [{ type: "input_text", text: value }],
  });
  if (input.developerInstructions) items.push(text("developer", input.developerInstructions));
  if (input.userInstructions) {
    items.push(
      text("user", `# AGENTS.md instructions for ${input.cwd}\n\n<INSTRUCTIONS>\n${input.userInstructions}\n</INSTRUCTIONS>`),
    );
  }
  items.push(text("user", environmentContextText(input)));
  return items;
}

export function userShellName(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const shell = env.SHELL;
  if (shell === undefined || shell === "") return undefined;
  return shell.split("/").at(-1);
}
