export const CLI_VERSION = "0.1.0";
export const DEFAULT_ORIGINATOR = "llmx_cli_ts";
