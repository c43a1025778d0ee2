/* HP's cookie manager and cookie helpers in C, with an HP_HttpSyncClient against the HTTP server
 * on 127.0.0.1:argv[1] (it echoes the Cookie header it gets and sets "sid=abc123; Path=/").
 * argv[2] is a directory for the cookie files. Prints one line per check; the test compares
 * them and reads the saved file. */
#include <errno.h>
#include <hpsocket/HPSocket4C.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static HP_HttpSyncClient s;
static char url[128];

static void get(const char* what)
{
    LPCBYTE body = NULL;
    int len = 0;
    if (!HP_HttpSyncClient_OpenUrl(s, "GET", url, NULL, 0, NULL, 0, FALSE)) {
        printf("%s failed %d\n", what, SYS_GetLastError());
        return;
    }
    HP_HttpSyncClient_GetResponseBody(s, &body, &len);
    printf("%s %.*s\n", what, len, (const char*)body);
}

int main(int argc, char** argv)
{
    if (argc < 3)
        return 2;
    char buf[256], file[512], bad[512];
    int n;

    /* helpers */
    n = 10;
    BOOL ok = HP_HttpCookie_HLP_MakeExpiresStr(buf, &n, 0);
    printf("expires small %d %d\n", ok, n);
    n = sizeof(buf);
    ok = HP_HttpCookie_HLP_MakeExpiresStr(buf, &n, 0);
    printf("expires %d %d %s\n", ok, n, buf);
    n = sizeof(buf);
    HP_HttpCookie_HLP_MakeExpiresStr(buf, &n, 784111777);
    __time64_t t = 0;
    ok = HP_HttpCookie_HLP_ParseExpires(buf, &t);
    printf("parse %s %d %lld\n", buf, ok, (long long)t);
    ok = HP_HttpCookie_HLP_ParseExpires("Sun, 06 Nov 1994 09:49:37 +0100", &t);
    printf("parse zone %d %lld\n", ok, (long long)t);
    printf("parse asctime %d\n", HP_HttpCookie_HLP_ParseExpires("Sun Nov  6 08:49:37 1994", &t));
    n = sizeof(buf);
    ok = HP_HttpCookie_HLP_ToString(buf, &n, "sid", "x", ".Example.COM", "/a/b", -1, TRUE, TRUE, 2);
    printf("tostring %d %d %s\n", ok, n, buf);
    n = sizeof(buf);
    HP_HttpCookie_HLP_ToString(buf, &n, "k", "v", NULL, "/", 0, FALSE, FALSE, 1);
    printf("tostring %s\n", buf);
    __time64_t now = HP_HttpCookie_HLP_CurrentUTCTime();
    __time64_t in = HP_HttpCookie_HLP_MaxAgeToExpires(100);
    printf("maxage %lld %lld %d %d %d %d\n", (long long)HP_HttpCookie_HLP_MaxAgeToExpires(-5),
           (long long)HP_HttpCookie_HLP_MaxAgeToExpires(0), in - now >= 100 && in - now <= 101,
           HP_HttpCookie_HLP_ExpiresToMaxAge(-1), HP_HttpCookie_HLP_ExpiresToMaxAge(now - 10),
           HP_HttpCookie_HLP_ExpiresToMaxAge(now + 50) >= 49);

    /* the manager */
    printf("third party %d\n", HP_HttpCookie_MGR_IsEnableThirdPartyCookie());
    /* one call a statement: C leaves the order of a printf's arguments open */
    BOOL r1 = HP_HttpCookie_MGR_SetCookie("lang", "en", "127.0.0.1", "/app/x", 3600, TRUE, FALSE, 2, TRUE);
    BOOL r2 = HP_HttpCookie_MGR_SetCookie("tmp", "1", "127.0.0.1", "/app/", -1, FALSE, FALSE, 0, TRUE);
    BOOL r3 = HP_HttpCookie_MGR_SetCookie("tmp", "2", "127.0.0.1", "/app/", -1, TRUE, FALSE, 0, TRUE);
    printf("set %d %d %d\n", r1, r2, r3);
    r1 = HP_HttpCookie_MGR_SetCookie("x", "1", NULL, "/", -1, FALSE, FALSE, 0, TRUE);
    r2 = HP_HttpCookie_MGR_SetCookie("x", "1", "127.0.0.1", "nopath", -1, FALSE, FALSE, 0, TRUE);
    r3 = HP_HttpCookie_MGR_SetCookie("", "1", "127.0.0.1", "/", -1, FALSE, FALSE, 0, TRUE);
    printf("set bad %d %d %d\n", r1, r2, r3);
    HP_HttpCookie_MGR_SetCookie("gone", "1", "127.0.0.1", "/", -1, FALSE, FALSE, 0, TRUE);
    r1 = HP_HttpCookie_MGR_SetCookie("gone", "", "127.0.0.1", "/", 0, FALSE, FALSE, 0, TRUE);
    r2 = HP_HttpCookie_MGR_DeleteCookie("127.0.0.1", "/", "gone");
    printf("delete by max-age 0: %d %d\n", r1, r2);
    HP_HttpCookie_MGR_SetCookie("short", "1", "127.0.0.1", "/", 1, FALSE, FALSE, 0, TRUE);
    sleep(2);
    r1 = HP_HttpCookie_MGR_RemoveExpiredCookies("127.0.0.1", NULL);
    r2 = HP_HttpCookie_MGR_DeleteCookie("127.0.0.1", "/", "short");
    printf("remove expired %d %d\n", r1, r2);

    snprintf(file, sizeof(file), "%s/cookies.txt", argv[2]);
    printf("save %d\n", HP_HttpCookie_MGR_SaveToFile(file, FALSE));

    HP_HttpClientListener l = Create_HP_HttpClientListener();
    s = Create_HP_HttpSyncClient(l);
    snprintf(url, sizeof(url), "http://127.0.0.1:%s/app/x", argv[1]);
    get("with tmp");
    printf("clear %d\n", HP_HttpCookie_MGR_ClearCookies(NULL, NULL));
    get("cleared");
    printf("load %d\n", HP_HttpCookie_MGR_LoadFromFile(file, FALSE));
    get("loaded");
    /* the server's sid=abc123 is in the jar again: a merging save keeps the file's lang too */
    printf("clear lang %d\n", HP_HttpCookie_MGR_ClearCookies("127.0.0.1", "/app/"));
    printf("save merged %d\n", HP_HttpCookie_MGR_SaveToFile(file, TRUE));
    HP_HttpCookie_MGR_SetEnableThirdPartyCookie(FALSE);
    printf("third party %d\n", HP_HttpCookie_MGR_IsEnableThirdPartyCookie());
    HP_HttpCookie_MGR_SetEnableThirdPartyCookie(TRUE);

    snprintf(bad, sizeof(bad), "%s/bad.txt", argv[2]);
    FILE* f = fopen(bad, "w");
    fputs("127.0.0.1 /\n\tonly;two\n", f);
    fclose(f);
    ok = HP_HttpCookie_MGR_LoadFromFile(bad, TRUE);
    printf("load bad %d %d\n", ok, SYS_GetLastError() == EBADMSG);
    snprintf(bad, sizeof(bad), "%s/missing.txt", argv[2]);
    ok = HP_HttpCookie_MGR_LoadFromFile(bad, TRUE);
    printf("load missing %d %d\n", ok, SYS_GetLastError() == ENOENT);
    r1 = HP_HttpCookie_MGR_LoadFromFile(NULL, TRUE);
    r2 = HP_HttpCookie_HLP_ParseExpires(NULL, &t);
    r3 = HP_HttpCookie_HLP_MakeExpiresStr(buf, NULL, 0);
    printf("null %d %d %d\n", r1, r2, r3);

    Destroy_HP_HttpSyncClient(s);
    Destroy_HP_HttpClientListener(l);
    return 0;
}
