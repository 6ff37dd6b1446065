// Starts `dlc lsp` (stdio) for .dl files. Highlighting works without it (package.json's grammar).
const vscode = require("vscode");

let client;

function activate(context) {
  const config = vscode.workspace.getConfiguration("dl");
  if (!config.get("server.enabled", true)) return;
  let LanguageClient;
  try {
    ({ LanguageClient } = require("vscode-languageclient/node"));
  } catch (err) {
    vscode.window.showWarningMessage(
      "dlc: run `npm install` in the extension's folder to enable the language server"
    );
    return;
  }
  const command = config.get("server.command", "dlc");
  client = new LanguageClient(
    "dl",
    "dlc language server",
    { command, args: ["lsp"] },
    { documentSelector: [{ scheme: "file", language: "dl" }, { scheme: "untitled", language: "dl" }] }
  );
  context.subscriptions.push(client);
  client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
