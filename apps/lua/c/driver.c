/* Runs the Lua script linked into the program (c/script.lua, with .incbin). */
#include <stdio.h>
#include <string.h>

#include "lauxlib.h"
#include "lua.h"
#include "lualib.h"

#define STR(x) #x
#define XSTR(x) STR(x)
__asm__(".section .rodata\n"
        ".global lua_script\n"
        "lua_script:\n"
        ".incbin \"" SCRIPT_PATH "\"\n"
        ".byte 0\n"
        ".previous\n");
extern const char lua_script[];

int main(void) {
    lua_State *L = luaL_newstate();
    if (!L) {
        fprintf(stderr, "lua: no memory for a state\n");
        return 1;
    }
    luaL_openlibs(L);
    if (luaL_loadbuffer(L, lua_script, strlen(lua_script), "script") != LUA_OK ||
        lua_pcall(L, 0, 0, 0) != LUA_OK) {
        fprintf(stderr, "lua: %s\n", lua_tostring(L, -1));
        lua_close(L);
        return 1;
    }
    lua_close(L);
    return 0;
}
