/* HP's thread pool in C: the queue bound with each rejected policy (TRP_CALL_FAIL refuses,
 * TRP_CALLER_RUN runs on the submitting thread, TRP_WAIT_FOR waits for room or times out),
 * socket tasks with a copied and an attached buffer, AdjustThreadCount, Stop draining the
 * queue, and misuse. Prints one line per check; the test compares them. */
#include <errno.h>
#include <hpsocket/HPSocket4C.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static atomic_int runs;
static sem_t gate;
static pthread_t main_thread;
static char task_seen[128];
static atomic_int tasks_done;

static void __HP_CALL add(PVOID arg) { atomic_fetch_add(&runs, (int)(intptr_t)arg); }
static void __HP_CALL blocker(PVOID arg)
{
    (void)arg;
    sem_wait(&gate);
}
static void __HP_CALL on_caller(PVOID arg) { *(int*)arg = pthread_equal(pthread_self(), main_thread) ? 1 : 2; }
static void __HP_CALL socket_task(TSocketTask* t)
{
    snprintf(task_seen, sizeof(task_seen), "%.*s conn=%lu w=%lu l=%ld", t->bufLen, (const char*)t->buf, t->connID,
             t->wparam, t->lparam);
    atomic_fetch_add(&tasks_done, 1);
}

/* Submits n blockers and waits until the workers hold them all. */
static void block(HP_ThreadPool p, int n)
{
    for (int i = 0; i < n; i++)
        HP_ThreadPool_Submit(p, blocker, NULL, INFINITE);
    for (int i = 0; i < 2000 && HP_ThreadPool_GetQueueSize(p) > 0; i++)
        usleep(1000);
}

int main(void)
{
    main_thread = pthread_self();
    sem_init(&gate, 0, 0);
    HP_ThreadPoolListener l = Create_HP_ThreadPoolListener();
    HP_ThreadPool p = Create_HP_ThreadPool(l);
    printf("idle %d %d\n", HP_ThreadPool_HasStarted(p), (int)HP_ThreadPool_GetState(p));

    BOOL ok = HP_ThreadPool_Start(p, 2, 2, TRP_CALL_FAIL, 0);
    printf("start %d threads=%u max=%u policy=%d again=%d\n", ok, HP_ThreadPool_GetThreadCount(p),
           HP_ThreadPool_GetMaxQueueSize(p), (int)HP_ThreadPool_GetRejectedPolicy(p),
           HP_ThreadPool_Start(p, 1, 0, TRP_CALL_FAIL, 0));
    block(p, 2);
    HP_ThreadPool_Submit(p, add, (PVOID)1, INFINITE);
    HP_ThreadPool_Submit(p, add, (PVOID)1, INFINITE);
    ok = HP_ThreadPool_Submit(p, add, (PVOID)1, INFINITE);
    int e = SYS_GetLastError();
    printf("full %d %d queue=%u tasks=%u\n", ok, e == ENOSPC, HP_ThreadPool_GetQueueSize(p), HP_ThreadPool_GetTaskCount(p));
    sem_post(&gate);
    sem_post(&gate);
    ok = HP_ThreadPool_Stop(p, INFINITE);
    printf("stopped %d runs=%d state=%d wait=%d\n", ok, atomic_load(&runs), (int)HP_ThreadPool_GetState(p), HP_ThreadPool_Wait(p, 0));

    HP_ThreadPool_Start(p, 1, 1, TRP_CALLER_RUN, 0);
    block(p, 1);
    HP_ThreadPool_Submit(p, add, (PVOID)10, INFINITE);
    int where = 0;
    ok = HP_ThreadPool_Submit(p, on_caller, &where, INFINITE);
    printf("caller run %d where=%d\n", ok, where);
    sem_post(&gate);
    HP_ThreadPool_Stop(p, INFINITE);

    HP_ThreadPool_Start(p, 1, 1, TRP_WAIT_FOR, 0);
    block(p, 1);
    HP_ThreadPool_Submit(p, add, (PVOID)100, INFINITE);
    ok = HP_ThreadPool_Submit(p, add, (PVOID)1000, 50);
    e = SYS_GetLastError();
    sem_post(&gate);
    BOOL later = HP_ThreadPool_Submit(p, add, (PVOID)1000, INFINITE);
    printf("wait for %d %d then %d\n", ok, e == ETIMEDOUT, later);

    LPTSocketTask t = Create_HP_SocketTaskObj(socket_task, p, 42, (const BYTE*)"task bytes", 10, TBT_COPY, 7, -3);
    ok = HP_ThreadPool_Submit_Task(p, t, INFINITE);
    BOOL grown = HP_ThreadPool_AdjustThreadCount(p, 3);
    printf("task submit %d grown %d threads=%u\n", ok, grown, HP_ThreadPool_GetThreadCount(p));
    HP_ThreadPool_Stop(p, INFINITE);
    printf("task %s done=%d runs=%d\n", task_seen, atomic_load(&tasks_done), atomic_load(&runs));

    char* m = (char*)SYS_Malloc(5);
    memcpy(m, "hello", 5);
    t = Create_HP_SocketTaskObj(socket_task, NULL, 1, (const BYTE*)m, 5, TBT_ATTACH, 0, 0);
    Destroy_HP_SocketTaskObj(t); /* frees m too */
    char on_stack[4] = {0};
    t = Create_HP_SocketTaskObj(socket_task, NULL, 1, (const BYTE*)on_stack, 0, TBT_COPY, 0, 0);
    Destroy_HP_SocketTaskObj(t); /* an empty copy: nothing of the caller's is freed */

    BOOL a = HP_ThreadPool_Submit(NULL, add, NULL, 0);
    BOOL b = HP_ThreadPool_Start(p, 1, 0, (En_HP_RejectedPolicy)9, 0);
    BOOL c = HP_ThreadPool_Submit(p, add, NULL, 0);
    BOOL d = HP_ThreadPool_Submit_Task(p, NULL, 0);
    printf("misuse %d %d %d %d %p\n", a, b, c, d, (void*)Create_HP_SocketTaskObj(NULL, NULL, 0, NULL, 0, TBT_COPY, 0, 0));
    Destroy_HP_ThreadPool(p);
    Destroy_HP_ThreadPoolListener(l);
    return 0;
}
