// Piscina task entry: one long-lived task per conversation.
import { runConversationTask, type ConversationTask } from "../src/session/worker-task.js";

export default (task: ConversationTask) => runConversationTask(task);
