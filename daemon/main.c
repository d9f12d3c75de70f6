/* The agentd executable: dispatches subcommands. `serve` (the default)
 * runs the daemon; later subcommands work on models and API tokens. */
#include <stdio.h>
#include <string.h>

#include "build_config.h"
#include "daemon/config.h"
#include "daemon/engine/engine.h"
#include "daemon/serve.h"

static void main_usage(FILE *out)
{
	fprintf(out, "usage: agentd [COMMAND] [OPTIONS]\n"
		     "\n"
		     "commands:\n"
		     "  serve      run the daemon in the foreground (the default)\n"
		     "  model      work on GGUF model files: agentd model --help\n"
		     "  help       show this help, or a command's: agentd help serve\n"
		     "  version    show the version\n"
		     "\n"
		     "Run 'agentd serve --help' for the daemon's options.\n");
}

static void main_version(void)
{
	printf("agentd %s (cuda: %s)\n", AGENTD_VERSION, AGENTD_HAVE_CUDA ? "built" : "not built");
}

static int main_serve(int argc, char **argv)
{
	struct config cfg;
	config_init(&cfg);
	char err[1024];
	int rc = config_parse_args(&cfg, argc, argv, err, sizeof(err));
	if (rc == CONFIG_HELP) {
		config_print_help("agentd", stdout);
		config_free(&cfg);
		return 0;
	}
	if (rc == CONFIG_VERSION) {
		main_version();
		config_free(&cfg);
		return 0;
	}
	if (rc >= 0)
		rc = config_validate(&cfg, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "agentd: %s\n", err);
		config_free(&cfg);
		return 2;
	}
	int status = serve_run(&cfg);
	config_free(&cfg);
	return status;
}

int main(int argc, char **argv)
{
	if (argc < 2 || argv[1][0] == '-') {
		if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
			main_usage(stdout);
			printf("\n");
			config_print_help("agentd", stdout);
			return 0;
		}
		return main_serve(argc - 1, argv + 1);
	}
	const char *cmd = argv[1];
	if (strcmp(cmd, "serve") == 0)
		return main_serve(argc - 2, argv + 2);
	if (strcmp(cmd, "model") == 0)
		return engine_cmd_model(argc - 1, argv + 1);
	if (strcmp(cmd, "version") == 0) {
		main_version();
		return 0;
	}
	if (strcmp(cmd, "help") == 0) {
		if (argc >= 3 && strcmp(argv[2], "serve") == 0)
			config_print_help("agentd", stdout);
		else if (argc >= 3 && strcmp(argv[2], "model") == 0)
			return engine_cmd_model(2, (char *[]){"model", "--help", NULL});
		else
			main_usage(stdout);
		return 0;
	}
	fprintf(stderr, "agentd: unknown command '%s'\n\n", cmd);
	main_usage(stderr);
	return 2;
}
