/* The task state table. */
#include "proto/task_state.h"
#include "tests/harness/harness.h"

TEST(names_round_trip)
{
	for (unsigned i = 0; i < TASK_STATE_COUNT; i++) {
		enum task_state s;
		CHECK_INT(task_state_parse(task_state_name((enum task_state)i), &s), ==, 0);
		CHECK_INT(s, ==, i);
	}
	enum task_state s;
	CHECK_INT(task_state_parse("Queued", &s), <, 0);
	CHECK_INT(task_state_parse("", &s), <, 0);
	CHECK_STR(task_state_name(TASK_STATE_COUNT), "unknown");
	CHECK_STR(task_state_list(),
		  "queued, running, verifying, awaiting_review, approved, rejected, failed, canceled");
}

TEST(terminal_states_have_no_way_out)
{
	enum task_state terminal[] = {TASK_APPROVED, TASK_REJECTED, TASK_FAILED, TASK_CANCELED};
	for (size_t i = 0; i < 4; i++) {
		CHECK(task_state_is_terminal(terminal[i]));
		for (unsigned to = 0; to < TASK_STATE_COUNT; to++)
			CHECK(!task_state_can_move(terminal[i], (enum task_state)to));
	}
	enum task_state live[] = {TASK_QUEUED, TASK_RUNNING, TASK_VERIFYING, TASK_AWAITING_REVIEW};
	for (size_t i = 0; i < 4; i++) {
		CHECK(!task_state_is_terminal(live[i]));
		/* Cancel works from every non-terminal state. */
		CHECK(task_state_can_move(live[i], TASK_CANCELED));
		/* No state moves to itself. */
		CHECK(!task_state_can_move(live[i], live[i]));
	}
}

TEST(the_life_of_a_task)
{
	CHECK(task_state_can_move(TASK_QUEUED, TASK_RUNNING));
	CHECK(task_state_can_move(TASK_RUNNING, TASK_VERIFYING));
	CHECK(task_state_can_move(TASK_VERIFYING, TASK_AWAITING_REVIEW));
	CHECK(task_state_can_move(TASK_AWAITING_REVIEW, TASK_APPROVED));
	CHECK(task_state_can_move(TASK_AWAITING_REVIEW, TASK_REJECTED));
	/* request_changes sends it back; a restart re-queues a running one. */
	CHECK(task_state_can_move(TASK_AWAITING_REVIEW, TASK_QUEUED));
	CHECK(task_state_can_move(TASK_RUNNING, TASK_QUEUED));
	CHECK(task_state_can_move(TASK_RUNNING, TASK_FAILED));
	CHECK(task_state_can_move(TASK_VERIFYING, TASK_FAILED));
	/* Shortcuts are not allowed. */
	CHECK(!task_state_can_move(TASK_QUEUED, TASK_AWAITING_REVIEW));
	CHECK(!task_state_can_move(TASK_QUEUED, TASK_APPROVED));
	CHECK(!task_state_can_move(TASK_RUNNING, TASK_APPROVED));
	CHECK(!task_state_can_move(TASK_VERIFYING, TASK_APPROVED));
	CHECK(!task_state_can_move(TASK_AWAITING_REVIEW, TASK_FAILED));
	CHECK(!task_state_can_move(TASK_STATE_COUNT, TASK_QUEUED));
}
